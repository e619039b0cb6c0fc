package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Environment variables read by collector-config.yaml (with the default each
// has there) and by deploy/jaeger-config.yaml. The harness sets them to place
// the programs on the ports it chose; docker-compose.yml sets them too.
const (
	EnvOTLPGRPC       = "CREWTRACE_OTLP_GRPC_ENDPOINT"   // 127.0.0.1:4317
	EnvOTLPHTTP       = "CREWTRACE_OTLP_HTTP_ENDPOINT"   // 127.0.0.1:4318
	EnvHealth         = "CREWTRACE_HEALTH_ENDPOINT"      // 127.0.0.1:13133
	EnvMetricsHost    = "CREWTRACE_METRICS_HOST"         // 127.0.0.1
	EnvMetricsPort    = "CREWTRACE_METRICS_PORT"         // 8888
	EnvPrometheus     = "CREWTRACE_PROMETHEUS_ENDPOINT"  // 127.0.0.1:8889
	EnvJaegerOTLP     = "CREWTRACE_JAEGER_OTLP_ENDPOINT" // 127.0.0.1:14317
	EnvJaegerUI       = "CREWTRACE_JAEGER_UI_URL"        // http://127.0.0.1:16686
	EnvSessionsDir    = "CREWTRACE_SESSIONS_DIR"         // ./data
	EnvGracePeriod    = "CREWTRACE_SESSION_GRACE_PERIOD"
	EnvSessionTimeout = "CREWTRACE_SESSION_TIMEOUT"
	EnvLogLevel       = "CREWTRACE_LOG_LEVEL" // info

	EnvJaegerOTLPGRPC  = "JAEGER_OTLP_GRPC_ENDPOINT"  // 127.0.0.1:14317
	EnvJaegerOTLPHTTP  = "JAEGER_OTLP_HTTP_ENDPOINT"  // 127.0.0.1:14318
	EnvJaegerQueryHTTP = "JAEGER_QUERY_HTTP_ENDPOINT" // 127.0.0.1:16686
	EnvJaegerQueryGRPC = "JAEGER_QUERY_GRPC_ENDPOINT" // 127.0.0.1:16685
)

// SessionsFile is the JSONL file, inside the sessions directory, that
// collector-config.yaml has the session exporter write.
const SessionsFile = "sessions.jsonl"

// Addrs are the loopback addresses the stack listens on.
type Addrs struct {
	// OTLPGRPC and OTLPHTTP are the collector's OTLP receiver.
	OTLPGRPC, OTLPHTTP string
	// Health is the collector's health_check extension.
	Health string
	// Metrics is the collector's own Prometheus metrics endpoint.
	Metrics string
	// CrewMetrics is the collector's prometheus exporter: the crews'
	// crewtrace_* metrics.
	CrewMetrics string
	// JaegerOTLPGRPC and JaegerOTLPHTTP are Jaeger's OTLP receiver.
	JaegerOTLPGRPC, JaegerOTLPHTTP string
	// JaegerQueryHTTP serves Jaeger's UI and HTTP query API.
	JaegerQueryHTTP string
	// JaegerQueryGRPC serves Jaeger's gRPC query API.
	JaegerQueryGRPC string
}

// DefaultAddrs are the addresses collector-config.yaml and
// deploy/jaeger-config.yaml use when no variable overrides them.
func DefaultAddrs() Addrs {
	return Addrs{
		OTLPGRPC:        "127.0.0.1:4317",
		OTLPHTTP:        "127.0.0.1:4318",
		Health:          "127.0.0.1:13133",
		Metrics:         "127.0.0.1:8888",
		CrewMetrics:     "127.0.0.1:8889",
		JaegerOTLPGRPC:  "127.0.0.1:14317",
		JaegerOTLPHTTP:  "127.0.0.1:14318",
		JaegerQueryHTTP: "127.0.0.1:16686",
		JaegerQueryGRPC: "127.0.0.1:16685",
	}
}

// FreeAddrSet picks a free loopback port for every listener.
func FreeAddrSet() (Addrs, error) {
	a, err := FreeAddrs(9)
	if err != nil {
		return Addrs{}, err
	}
	return Addrs{
		OTLPGRPC: a[0], OTLPHTTP: a[1], Health: a[2], Metrics: a[3],
		JaegerOTLPGRPC: a[4], JaegerOTLPHTTP: a[5], JaegerQueryHTTP: a[6], JaegerQueryGRPC: a[7],
		CrewMetrics: a[8],
	}, nil
}

// Busy returns the first address in a that something already listens on.
func (a Addrs) Busy() (string, bool) {
	for _, addr := range []string{a.OTLPGRPC, a.OTLPHTTP, a.Health, a.Metrics, a.CrewMetrics, a.JaegerOTLPGRPC, a.JaegerOTLPHTTP, a.JaegerQueryHTTP, a.JaegerQueryGRPC} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return addr, true
		}
		l.Close()
	}
	return "", false
}

// StackOptions configure StartStack.
type StackOptions struct {
	// Root is the checkout root (RepoRoot).
	Root string
	// Bins are the programs to run (Build).
	Bins Binaries
	// Addrs are where to listen; the zero value picks free ports.
	Addrs Addrs
	// LogDir receives jaeger.log and collector.log.
	LogDir string
	// SessionsDir is where the session exporter writes; default <LogDir>/data.
	SessionsDir string
	// CollectorConfigs are the collector's --config values, merged in order;
	// default <Root>/collector-config.yaml.
	CollectorConfigs []string
	// JaegerConfig is Jaeger's --config; default <Root>/deploy/jaeger-config.yaml.
	JaegerConfig string
	// CollectorEnv and JaegerEnv are extra KEY=VALUE settings.
	CollectorEnv, JaegerEnv []string
	// StartTimeout bounds the wait for both to be ready; default 60 s.
	StartTimeout time.Duration
	// JaegerLater starts only the collector: Jaeger is started by
	// Stack.StartJaeger when it is there (make demo builds it meanwhile).
	// The collector's exporter to Jaeger queues and retries until then
	// (collector-config.yaml), and the session records do not wait for it.
	JaegerLater bool
}

// Stack is a running Jaeger and a collector exporting to it (Jaeger is nil
// until StartJaeger when the stack was started with JaegerLater).
type Stack struct {
	// Addrs are where the stack listens.
	Addrs Addrs
	// Jaeger and Collector are the two processes.
	Jaeger, Collector *Process
	// SessionsDir holds the session exporter's JSONL output.
	SessionsDir string
	// JaegerUI is the base URL of Jaeger's UI and query API.
	JaegerUI string
	// Query reads Jaeger's HTTP query API.
	Query *JaegerClient

	opts StackOptions
}

// StartStack starts Jaeger, then the collector pointed at it, and waits until
// both answer. On error it stops whatever it started.
func StartStack(ctx context.Context, o StackOptions) (*Stack, error) {
	if o.Addrs == (Addrs{}) {
		a, err := FreeAddrSet()
		if err != nil {
			return nil, err
		}
		o.Addrs = a
	}
	if o.SessionsDir == "" {
		o.SessionsDir = filepath.Join(o.LogDir, "data")
	}
	if len(o.CollectorConfigs) == 0 {
		o.CollectorConfigs = []string{filepath.Join(o.Root, "collector-config.yaml")}
	}
	if o.JaegerConfig == "" {
		o.JaegerConfig = filepath.Join(o.Root, "deploy", "jaeger-config.yaml")
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 60 * time.Second
	}
	if err := os.MkdirAll(o.SessionsDir, 0o755); err != nil {
		return nil, fmt.Errorf("harness: sessions dir: %w", err)
	}
	a := o.Addrs
	s := &Stack{
		Addrs:       a,
		SessionsDir: o.SessionsDir,
		JaegerUI:    "http://" + a.JaegerQueryHTTP,
		opts:        o,
	}
	s.Query = &JaegerClient{BaseURL: s.JaegerUI}

	ctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()

	if !o.JaegerLater {
		if err := s.startJaeger(ctx, o.Bins.Jaeger); err != nil {
			return nil, errors.Join(err, s.Stop())
		}
	}
	if err := s.startCollector(ctx); err != nil {
		return nil, errors.Join(err, s.Stop())
	}
	return s, nil
}

// StartJaeger starts Jaeger from bin on the stack's addresses, for a stack
// started with JaegerLater, and waits until its query API answers. The
// collector, already running, delivers the traces it queued meanwhile.
func (s *Stack) StartJaeger(ctx context.Context, bin string) error {
	if s.Jaeger != nil {
		return errors.New("harness: jaeger already started")
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.StartTimeout)
	defer cancel()
	return s.startJaeger(ctx, bin)
}

func (s *Stack) startJaeger(ctx context.Context, bin string) error {
	a, o := s.Addrs, s.opts
	jaegerEnv := append([]string{
		EnvJaegerOTLPGRPC + "=" + a.JaegerOTLPGRPC,
		EnvJaegerOTLPHTTP + "=" + a.JaegerOTLPHTTP,
		EnvJaegerQueryHTTP + "=" + a.JaegerQueryHTTP,
		EnvJaegerQueryGRPC + "=" + a.JaegerQueryGRPC,
	}, o.JaegerEnv...)
	p, err := Start("jaeger", o.LogDir, jaegerEnv, bin, "--config", o.JaegerConfig)
	if err != nil {
		return err
	}
	s.Jaeger = p
	return WaitHTTP(ctx, s.JaegerUI+"/api/services", p)
}

// RestartCollector starts the collector again with the same configuration,
// ports and sessions directory, after it exited (for instance after
// Process.Kill, to test crash recovery), and waits until it is ready. A
// collector still running is stopped first. Its output is appended to the
// same log file.
func (s *Stack) RestartCollector(ctx context.Context) error {
	if s.Collector != nil && s.Collector.Running() {
		if err := s.Collector.Stop(0); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.StartTimeout)
	defer cancel()
	return s.startCollector(ctx)
}

func (s *Stack) startCollector(ctx context.Context) error {
	o, a := s.opts, s.Addrs
	metricsHost, metricsPort, err := net.SplitHostPort(a.Metrics)
	if err != nil {
		return fmt.Errorf("harness: metrics address: %w", err)
	}
	collectorEnv := append([]string{
		EnvOTLPGRPC + "=" + a.OTLPGRPC,
		EnvOTLPHTTP + "=" + a.OTLPHTTP,
		EnvHealth + "=" + a.Health,
		EnvMetricsHost + "=" + metricsHost,
		EnvMetricsPort + "=" + metricsPort,
		EnvPrometheus + "=" + a.CrewMetrics,
		EnvJaegerOTLP + "=" + a.JaegerOTLPGRPC,
		EnvJaegerUI + "=" + s.JaegerUI,
		EnvSessionsDir + "=" + o.SessionsDir,
	}, o.CollectorEnv...)
	var args []string
	for _, c := range o.CollectorConfigs {
		args = append(args, "--config", c)
	}
	p, err := Start("collector", o.LogDir, collectorEnv, o.Bins.Collector, args...)
	if err != nil {
		return err
	}
	s.Collector = p
	return WaitHTTP(ctx, "http://"+a.Health+"/", p)
}

// MetricsURL is the collector's own Prometheus metrics endpoint
// (otelcol_* and the session exporter's metrics).
func (s *Stack) MetricsURL() string { return "http://" + s.Addrs.Metrics + "/metrics" }

// CrewMetricsURL is the collector's prometheus exporter endpoint: the
// crewtrace_* metrics of the crews that export to it.
func (s *Stack) CrewMetricsURL() string { return "http://" + s.Addrs.CrewMetrics + "/metrics" }

// SessionsPath is the JSONL file the session exporter writes.
func (s *Stack) SessionsPath() string { return filepath.Join(s.SessionsDir, SessionsFile) }

// CrewEnv is the environment that makes the example crew (or any OTel SDK
// program) export to the stack's collector.
func (s *Stack) CrewEnv() []string {
	return []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + s.Addrs.OTLPGRPC,
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		"OTEL_EXPORTER_OTLP_INSECURE=true",
	}
}

// Stop stops the collector first (it drains its buffered sessions on the way
// out), then Jaeger. Safe to call more than once.
func (s *Stack) Stop() error {
	var errs []error
	if s.Collector != nil {
		errs = append(errs, s.Collector.Stop(0))
	}
	if s.Jaeger != nil {
		errs = append(errs, s.Jaeger.Stop(0))
	}
	return errors.Join(errs...)
}

// Logs returns where each process's log is.
func (s *Stack) Logs() []string {
	var out []string
	for _, p := range []*Process{s.Jaeger, s.Collector} {
		if p != nil {
			out = append(out, p.LogPath())
		}
	}
	return out
}
