package harness

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// BuildTelemetrygen builds collector-contrib's telemetrygen (the go tool
// dependency of tools/telemetrygen, outside the workspace) into
// dir/telemetrygen, unless the binary there was built from the same
// tools/telemetrygen go.mod/go.sum with the same Go — the reuse rule of
// BuildJaeger.
func BuildTelemetrygen(ctx context.Context, root, dir string, log io.Writer) (string, error) {
	out := filepath.Join(dir, "telemetrygen")
	mod := filepath.Join(root, "tools", "telemetrygen")
	stamp, err := jaegerStamp(mod)
	if err != nil {
		return "", err
	}
	stampPath := out + ".stamp"
	if have, err := os.ReadFile(stampPath); err == nil && string(have) == stamp && isFile(out) {
		logf(log, "telemetrygen: reusing %s\n", out)
		return out, nil
	}
	env := []string{"GOWORK=off"}
	if err := goBuild(ctx, log, "telemetrygen", mod, env, out, "github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen"); err != nil {
		return "", err
	}
	if err := os.WriteFile(stampPath, []byte(stamp), 0o644); err != nil {
		return "", fmt.Errorf("harness: telemetrygen stamp: %w", err)
	}
	return out, nil
}

// TelemetrygenTraces are the arguments of a telemetrygen traces run.
type TelemetrygenTraces struct {
	// Workers run in parallel; each sends Traces traces at Rate traces/s
	// (0: unthrottled).
	Workers, Traces int
	Rate            float64
	// ChildSpans is the number of child spans of each trace's root.
	ChildSpans int
	// Service is the service.name of the traffic.
	Service string
}

// Spans returns the number of spans the run sends.
func (g TelemetrygenTraces) Spans() int { return g.Workers * g.Traces * (1 + g.ChildSpans) }

// StartTelemetrygen starts telemetrygen sending g's traces over OTLP/gRPC to
// the stack's collector. Wait for it with Process.Wait.
func (s *Stack) StartTelemetrygen(bin, logDir string, g TelemetrygenTraces) (*Process, error) {
	return Start("telemetrygen", logDir, nil, bin, "traces",
		"--otlp-endpoint", s.Addrs.OTLPGRPC, "--otlp-insecure",
		"--workers", fmt.Sprint(g.Workers), "--traces", fmt.Sprint(g.Traces),
		"--rate", fmt.Sprint(g.Rate), "--child-spans", fmt.Sprint(g.ChildSpans),
		"--service", g.Service)
}
