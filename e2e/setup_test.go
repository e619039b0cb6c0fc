package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/e2e/harness"
)

// logTailLines is how many of a process's last log lines a failing test
// prints.
const logTailLines = 40

// testEnv is what every stack test starts from: the checkout, the built
// programs and a directory for logs and outputs (kept if the test fails).
type testEnv struct {
	root   string
	bins   harness.Binaries
	logDir string
}

// newEnv builds (or reuses) the programs and makes the test's log directory.
// ctx is bounded by the test's budget and cancelled when the test is done.
func newEnv(t *testing.T) (context.Context, testEnv) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testBudget(t))
	t.Cleanup(cancel)
	root, err := harness.RepoRoot()
	require.NoError(t, err)
	bins, err := harness.Build(ctx, root, harness.BuildDir(root), testWriter{t})
	require.NoError(t, err)
	return ctx, testEnv{root: root, bins: bins, logDir: keptOnFailure(t)}
}

// truthPath is where the crew writes its ground truth (its -truth flag).
func (e testEnv) truthPath() string { return filepath.Join(e.logDir, "truth.json") }

// startStack starts Jaeger and the collector with opts (Root, Bins and
// LogDir filled in) and stops them when the test is done, printing the end
// of each one's log if it failed.
func (e testEnv) startStack(t *testing.T, ctx context.Context, opts harness.StackOptions) *harness.Stack {
	t.Helper()
	opts.Root, opts.Bins, opts.LogDir = e.root, e.bins, e.logDir
	stack, err := harness.StartStack(ctx, opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = stack.Stop()
		if t.Failed() {
			// stack.Collector is read now: RestartCollector replaces it.
			for _, p := range []*harness.Process{stack.Jaeger, stack.Collector} {
				logTail(t, p)
			}
		}
	})
	return stack
}

// startCrew starts the example crew against stack with args, extraEnv added
// to the stack's crew environment, and stops it when the test is done,
// printing the end of its log if the test failed.
func (e testEnv) startCrew(t *testing.T, stack *harness.Stack, extraEnv []string, args ...string) *harness.Process {
	t.Helper()
	crew, err := harness.Start("crew", e.logDir, append(stack.CrewEnv(), extraEnv...), e.bins.Crew, args...)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = crew.Stop(0)
		if t.Failed() {
			logTail(t, crew)
		}
	})
	return crew
}

// waitCrew waits for the crew to exit and requires it to succeed.
func waitCrew(t *testing.T, ctx context.Context, crew *harness.Process) {
	t.Helper()
	require.NoError(t, crew.Wait(ctx), "the example crew failed (%s), last lines:\n%s", crew.LogPath(), crew.LogTail(logTailLines))
}

// runCrew starts the example crew against stack with args and waits for it
// to succeed.
func (e testEnv) runCrew(t *testing.T, ctx context.Context, stack *harness.Stack, args ...string) {
	t.Helper()
	waitCrew(t, ctx, e.startCrew(t, stack, nil, args...))
}

func logTail(t *testing.T, p *harness.Process) {
	if p != nil {
		t.Logf("--- %s (%s), last lines:\n%s", p.Name, p.LogPath(), p.LogTail(logTailLines))
	}
}

// testBudget is the time the test gives itself: what remains before go
// test's -timeout, minus a margin for cleanup and log output.
func testBudget(t *testing.T) time.Duration {
	budget := 9 * time.Minute
	if d, ok := t.Deadline(); ok {
		budget = time.Until(d) - 30*time.Second
	}
	require.Positive(t, budget, "no time left before the go test -timeout")
	return budget
}

// keptOnFailure returns a directory for logs and outputs that is removed
// when the test passes and kept (and named in the output) when it fails.
func keptOnFailure(t *testing.T) string {
	dir, err := os.MkdirTemp("", "crewtrace-e2e-")
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs and outputs kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	return dir
}

// testWriter sends build progress to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
