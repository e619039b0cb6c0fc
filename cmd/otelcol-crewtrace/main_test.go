package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runAsMainEnv makes the test binary behave as the collector binary, so the
// tests below exercise the real main() (command line, providers, factories)
// without a separate `go build`.
const runAsMainEnv = "OTELCOL_CREWTRACE_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runAsMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// collector runs main() in a child process with args and returns its output.
func collector(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), runAsMainEnv+"=1"), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestVersionFlag(t *testing.T) {
	cfg := readBuilderConfig(t)
	out, err := collector(t, nil, "--version")
	require.NoError(t, err, out)
	assert.Equal(t, cfg.Dist.Name+" version "+cfg.Dist.Version, strings.TrimSpace(out))
}

// TestValidateRootCollectorConfig runs the distribution's validate command on
// the collector-config.yaml the repository ships, with its defaults and with
// every endpoint overridden through the environment.
func TestValidateRootCollectorConfig(t *testing.T) {
	const config = "../../collector-config.yaml"
	for name, env := range map[string][]string{
		"defaults": nil,
		"overridden": {
			"CREWTRACE_OTLP_GRPC_ENDPOINT=127.0.0.1:24317",
			"CREWTRACE_OTLP_HTTP_ENDPOINT=127.0.0.1:24318",
			"CREWTRACE_JAEGER_OTLP_ENDPOINT=jaeger:4317",
			"CREWTRACE_JAEGER_UI_URL=http://jaeger.example:16686",
			"CREWTRACE_SESSIONS_DIR=" + t.TempDir(),
			"CREWTRACE_HEALTH_ENDPOINT=127.0.0.1:23133",
			"CREWTRACE_SESSION_GRACE_PERIOD=1s",
			"CREWTRACE_SESSION_TIMEOUT=30s",
			"CREWTRACE_LOG_LEVEL=debug",
			"CREWTRACE_METRICS_HOST=127.0.0.1",
			"CREWTRACE_METRICS_PORT=28888",
		},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := collector(t, env, "validate", "--config", config)
			assert.NoError(t, err, out)
		})
	}
}

func TestValidateRejectsUnknownComponent(t *testing.T) {
	out, err := collector(t, nil, "validate", "--config",
		"yaml:receivers::nope: {}\nexporters::debug: {}\nservice::pipelines::traces::receivers: [nope]\nservice::pipelines::traces::exporters: [debug]")
	require.Error(t, err, "validate must fail on a component the distribution lacks")
	assert.Contains(t, out, "nope")
}

// TestValidateChecksSessionExporterConfig shows validate reaches the session
// exporter's own checks through collector-config.yaml's variables.
func TestValidateChecksSessionExporterConfig(t *testing.T) {
	out, err := collector(t, []string{"CREWTRACE_SESSION_GRACE_PERIOD=0s"}, "validate", "--config", "../../collector-config.yaml")
	require.Error(t, err, "a zero grace period must not validate")
	assert.Contains(t, out, "grace_period")
}
