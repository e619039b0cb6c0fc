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
