package hotpath

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/groupbytraceprocessor"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter"
)

// Environment of a collector child. The harness starts its own executable
// (the bench-hotpath program, or the test binary) with CollectorEnv set; that
// process then runs the bench collector instead of the harness, with the
// collector's command line (--config ...).
const (
	// CollectorEnv, set to "1", makes MaybeRunCollector run the collector.
	CollectorEnv = "CREWTRACE_HOTPATH_COLLECTOR"
	// CPUProfileEnv names a file the collector writes its CPU profile to,
	// from its start to its exit.
	CPUProfileEnv = "CREWTRACE_HOTPATH_CPUPROFILE"
	// AllocProfileEnv names a file the collector writes its allocation
	// profile (pprof "allocs") to at exit.
	AllocProfileEnv = "CREWTRACE_HOTPATH_ALLOCPROFILE"
)

// components are the bench collector's factories: the OTLP receiver, and
// every exporter and processor a pipeline of the harness uses. This collector
// is built only here: nop, groupbytrace and fileexporter stay out of the
// shipped distribution (cmd/otelcol-crewtrace) and its dependency graph.
func components() (otelcol.Factories, error) {
	var err error
	f := otelcol.Factories{Telemetry: otelconftelemetry.NewFactory()}
	if f.Receivers, err = otelcol.MakeFactoryMap[receiver.Factory](otlpreceiver.NewFactory()); err != nil {
		return f, err
	}
	if f.Processors, err = otelcol.MakeFactoryMap[processor.Factory](groupbytraceprocessor.NewFactory()); err != nil {
		return f, err
	}
	if f.Exporters, err = otelcol.MakeFactoryMap[exporter.Factory](
		exportertest.NewNopFactory(), // type "nop": drops everything, the ceiling
		fileexporter.NewFactory(),
		sessionexporter.NewFactory(),
	); err != nil {
		return f, err
	}
	if f.Extensions, err = otelcol.MakeFactoryMap[extension.Factory](filestorage.NewFactory()); err != nil {
		return f, err
	}
	f.Connectors, err = otelcol.MakeFactoryMap[connector.Factory]()
	return f, err
}

// MaybeRunCollector runs the bench collector and exits when CollectorEnv is
// set, and returns otherwise. Call it first thing in main (or TestMain).
func MaybeRunCollector() {
	if os.Getenv(CollectorEnv) != "1" {
		return
	}
	os.Exit(runCollector(os.Args[1:]))
}

func runCollector(args []string) int {
	if path := os.Getenv(CPUProfileEnv); path != "" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "hotpath collector:", err)
			return 1
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "hotpath collector:", err)
			return 1
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	cmd := otelcol.NewCommand(otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{Command: "otelcol-hotpath", Description: "crewtrace hot-path bench collector", Version: "0.0.0"},
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{ProviderFactories: []confmap.ProviderFactory{envprovider.NewFactory(), fileprovider.NewFactory()}},
		},
	})
	cmd.SetArgs(args)
	rc := 0
	if err := cmd.Execute(); err != nil {
		rc = 1
	}
	if path := os.Getenv(AllocProfileEnv); path != "" {
		if err := writeAllocProfile(path); err != nil {
			fmt.Fprintln(os.Stderr, "hotpath collector:", err)
			rc = 1
		}
	}
	return rc
}

func writeAllocProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
