package main

import (
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.yaml.in/yaml/v3"
)

// builderConfig is the part of the OCB manifest that names components.
type builderConfig struct {
	Dist struct {
		Name    string `yaml:"name"`
		Version string `yaml:"version"`
	} `yaml:"dist"`
	Receivers  []builderModule `yaml:"receivers"`
	Processors []builderModule `yaml:"processors"`
	Exporters  []builderModule `yaml:"exporters"`
	Extensions []builderModule `yaml:"extensions"`
	Connectors []builderModule `yaml:"connectors"`
	Telemetry  builderModule   `yaml:"telemetry"`
}

type builderModule struct {
	GoMod  string `yaml:"gomod"`
	Import string `yaml:"import"`
	Path   string `yaml:"path"`
}

func readBuilderConfig(t *testing.T) builderConfig {
	t.Helper()
	raw, err := os.ReadFile("builder-config.yaml")
	require.NoError(t, err)
	var cfg builderConfig
	require.NoError(t, yaml.Unmarshal(raw, &cfg))
	return cfg
}

func gomods(mods []builderModule) []string {
	out := make([]string, 0, len(mods))
	for _, m := range mods {
		out = append(out, m.GoMod)
	}
	sort.Strings(out)
	return out
}

// registered returns the distinct module strings components.go registers,
// ignoring the duplicate entries deprecated type aliases add.
func registered(modules map[component.Type]string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, m := range modules {
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}

// TestComponentsMatchBuilderConfig fails when builder-config.yaml (the OCB
// manifest) and components.go (what OCB would generate from it) disagree.
func TestComponentsMatchBuilderConfig(t *testing.T) {
	cfg := readBuilderConfig(t)
	factories, err := components()
	require.NoError(t, err)

	assert.Equal(t, gomods(cfg.Receivers), registered(factories.ReceiverModules), "receivers")
	assert.Equal(t, gomods(cfg.Processors), registered(factories.ProcessorModules), "processors")
	assert.Equal(t, gomods(cfg.Exporters), registered(factories.ExporterModules), "exporters")
	assert.Equal(t, gomods(cfg.Extensions), registered(factories.ExtensionModules), "extensions")
	assert.Equal(t, gomods(cfg.Connectors), registered(factories.ConnectorModules), "connectors")
	assert.NotNil(t, factories.Telemetry, "a collector without a telemetry factory refuses to start")
	assert.Equal(t, "go.opentelemetry.io/collector/service/telemetry/otelconftelemetry", cfg.Telemetry.Import)
}

// TestDistributionHoldsWhatUsersNeed pins the component types the README and
// collector-config.yaml rely on.
func TestDistributionHoldsWhatUsersNeed(t *testing.T) {
	factories, err := components()
	require.NoError(t, err)

	for _, typ := range []string{"otlp"} {
		assert.Contains(t, factories.Receivers, component.MustNewType(typ), "receiver %s", typ)
	}
	for _, typ := range []string{"batch", "memory_limiter"} {
		assert.Contains(t, factories.Processors, component.MustNewType(typ), "processor %s", typ)
	}
	// otlp_grpc and otlp_http also answer to their former names otlp and otlphttp.
	for _, typ := range []string{"otlp_grpc", "otlp", "otlp_http", "otlphttp", "debug", "prometheus"} {
		assert.Contains(t, factories.Exporters, component.MustNewType(typ), "exporter %s", typ)
	}
	for _, typ := range []string{"file_storage", "health_check"} {
		assert.Contains(t, factories.Extensions, component.MustNewType(typ), "extension %s", typ)
	}
}

// TestGoModMatchesBuilderConfig fails when go.mod requires a component module
// at another version than builder-config.yaml names (the two would build
// different collectors), or lacks the replace for a module given by path.
func TestGoModMatchesBuilderConfig(t *testing.T) {
	cfg := readBuilderConfig(t)
	raw, err := os.ReadFile("go.mod")
	require.NoError(t, err)
	required := map[string]string{}
	replaced := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		switch {
		case len(f) >= 4 && f[0] == "replace" && f[2] == "=>":
			replaced[f[1]] = f[3]
		case len(f) >= 2 && strings.HasPrefix(f[1], "v") && !strings.HasPrefix(f[0], "//"):
			required[f[0]] = f[1]
		}
	}
	all := [][]builderModule{cfg.Receivers, cfg.Processors, cfg.Exporters, cfg.Extensions, cfg.Connectors, {cfg.Telemetry}}
	for _, mods := range all {
		for _, m := range mods {
			path, version, ok := strings.Cut(m.GoMod, " ")
			require.True(t, ok, "gomod %q is <module> <version>", m.GoMod)
			assert.Equal(t, version, required[path], "go.mod requires %s at the version builder-config.yaml names", path)
			if m.Path != "" {
				assert.Equal(t, m.Path, replaced[path], "go.mod replaces %s with the path builder-config.yaml names", path)
			}
		}
	}
}
