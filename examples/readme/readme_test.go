package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// repoRoot is the checkout root, two levels up.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	return root
}

// readmeBlock returns the Go block of the root README's "Use it in your
// crew" section.
func readmeBlock(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(b), "\n## Use it in your crew\n")
	require.True(t, ok, "README.md has a \"Use it in your crew\" section")
	section, _, _ = strings.Cut(section, "\n## ")
	_, block, ok := strings.Cut(section, "\n```go\n")
	require.True(t, ok, "the section has a ```go block")
	block, _, ok = strings.Cut(block, "\n```\n")
	require.True(t, ok, "the block is closed")
	return block + "\n"
}

// TestREADMEBlockIsThisProgram: the README shows this very file, so what
// the tests build and run is what a reader copies.
func TestREADMEBlockIsThisProgram(t *testing.T) {
	src, err := os.ReadFile("main.go")
	require.NoError(t, err)
	assert.Equal(t, string(src), readmeBlock(t), "README.md's block and examples/readme/main.go differ: change both")
}

// TestREADMECompilesInANewModule copies the README's block into a module of
// its own, as a reader would, requiring the library and otelsetup from this
// checkout, and builds it outside the workspace.
func TestREADMECompilesInANewModule(t *testing.T) {
	root := repoRoot(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(readmeBlock(t)), 0o644))
	gomod := "module example.com/mycrew\n\ngo 1.26.0\n\n" +
		"require (\n\tgithub.com/crewtrace/crewtrace v0.0.0\n\tgithub.com/crewtrace/crewtrace/otelsession/otelsetup v0.0.0\n)\n\n" +
		"replace (\n\tgithub.com/crewtrace/crewtrace => " + root + "\n" +
		"\tgithub.com/crewtrace/crewtrace/otelsession/otelsetup => " + filepath.Join(root, "otelsession", "otelsetup") + "\n)\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644))

	goCmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(goCmd, args...)
		cmd.Dir = dir
		// Outside the workspace, from the module cache the workspace filled
		// (no download: the test needs no network).
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOPROXY=off", "GOSUMDB=off")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "go %s:\n%s", strings.Join(args, " "), out)
	}
	run("mod", "tidy")
	run("build", "-o", filepath.Join(dir, "mycrew"), ".")
}

// TestRunTask runs the README's task on an in-memory TracerProvider set as
// the global, as otelsetup.Setup sets its own: the spans the session record
// is made of. The e2e module runs the built program through the real
// collector and checks the record.
func TestRunTask(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	require.NoError(t, runTask(context.Background()))
	names := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		names[s.Name()] = s
	}
	require.Len(t, names, 4)
	root := names["session triage"]
	require.NotNil(t, root)
	agent := names["invoke_agent researcher"]
	require.NotNil(t, agent)
	assert.Equal(t, root.SpanContext().SpanID(), agent.Parent().SpanID(), "the agent is in the session")
	for _, n := range []string{"chat gpt-4o", "execute_tool web_search"} {
		s := names[n]
		require.NotNil(t, s, n)
		assert.Equal(t, agent.SpanContext().SpanID(), s.Parent().SpanID(), "%s is in the agent", n)
		assert.Equal(t, codes.Unset, s.Status().Code, n)
	}
	var state string
	for _, kv := range root.Attributes() {
		if kv.Key == "crewtrace.session.end_state" {
			state = kv.Value.AsString()
		}
	}
	assert.Equal(t, "Success", state)
	require.Len(t, names["invoke_agent researcher"].Events(), 1)
	assert.Equal(t, "summarise", names["invoke_agent researcher"].Events()[0].Name)
}
