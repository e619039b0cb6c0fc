package harness

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestFreeAddrsAreDistinctAndBindable(t *testing.T) {
	addrs, err := FreeAddrs(8)
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, a := range addrs {
		assert.True(t, strings.HasPrefix(a, "127.0.0.1:"), a)
		assert.False(t, seen[a], "duplicate %s", a)
		seen[a] = true
		l, err := net.Listen("tcp", a)
		require.NoError(t, err, "bind %s", a)
		l.Close()
	}
}

func TestAddrsBusy(t *testing.T) {
	a, err := FreeAddrSet()
	require.NoError(t, err)
	_, busy := a.Busy()
	assert.False(t, busy)

	l, err := net.Listen("tcp", a.JaegerQueryHTTP)
	require.NoError(t, err)
	defer l.Close()
	addr, busy := a.Busy()
	assert.True(t, busy)
	assert.Equal(t, a.JaegerQueryHTTP, addr)
}

func TestPollReturnsWhenDoneAndReportsLastReason(t *testing.T) {
	n := 0
	err := Poll(context.Background(), "counting", func(context.Context) (bool, string, error) {
		n++
		return n == 3, fmt.Sprintf("at %d", n), nil
	})
	require.NoError(t, err)
	assert.Equal(t, 3, n)

	ctx, cancel := context.WithTimeout(context.Background(), 3*PollInterval)
	defer cancel()
	err = Poll(ctx, "never", func(context.Context) (bool, string, error) { return false, "still not", nil })
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "still not")

	boom := fmt.Errorf("boom")
	err = Poll(context.Background(), "failing", func(context.Context) (bool, string, error) { return false, "", boom })
	assert.ErrorIs(t, err, boom)
}

// shell starts sh -c script as a Process.
func shell(t *testing.T, script string) *Process {
	t.Helper()
	p, err := Start("sh", t.TempDir(), []string{"HARNESS_TEST=hello"}, "/bin/sh", "-c", script)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Kill() })
	return p
}

func TestProcessCapturesOutputAndExit(t *testing.T) {
	p := shell(t, `echo "out $HARNESS_TEST"; echo err >&2; exit 3`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := p.Wait(ctx)
	require.Error(t, err)
	assert.False(t, p.Running())
	log := p.Log()
	assert.Contains(t, log, "out hello")
	assert.Contains(t, log, "err")
	assert.Equal(t, "err", p.LogTail(1))
	assert.ErrorContains(t, p.Stop(0), "had exited", "Stop reports an earlier failed exit")

	q := shell(t, `exit 0`)
	require.NoError(t, q.Wait(ctx))
	assert.NoError(t, q.Stop(0), "stopping a process that exited cleanly is a no-op")

	k := shell(t, `sleep 300`)
	require.NoError(t, k.Kill())
	assert.NoError(t, k.Stop(0), "a process ended by Kill was meant to die")
}

// TestStopEndsTheWholeProcessGroup: a child the process started dies with it.
func TestStopEndsTheWholeProcessGroup(t *testing.T) {
	p := shell(t, `sleep 300 & echo "child $!"; wait`)
	var child int
	require.NoError(t, Poll(context.Background(), "child pid", func(context.Context) (bool, string, error) {
		_, err := fmt.Sscanf(strings.TrimSpace(p.LogTail(1)), "child %d", &child)
		return err == nil, p.LogTail(1), nil
	}))
	require.NoError(t, p.Stop(5*time.Second))
	assert.False(t, p.Running())
	require.NoError(t, Poll(context.Background(), "child gone", func(context.Context) (bool, string, error) {
		err := syscall.Kill(child, 0)
		return err == syscall.ESRCH, fmt.Sprint(err), nil
	}))
}

func TestStopKillsWhatIgnoresSIGTERM(t *testing.T) {
	p := shell(t, `trap "" TERM; echo ready; while :; do sleep 1; done`)
	require.NoError(t, Poll(context.Background(), "ready", func(context.Context) (bool, string, error) {
		return p.LogTail(1) == "ready", "", nil
	}))
	err := p.Stop(300 * time.Millisecond)
	require.Error(t, err, "Stop reports that it had to kill")
	assert.Contains(t, err.Error(), "killed")
	assert.False(t, p.Running())
}

func TestWaitHTTP(t *testing.T) {
	ready := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-ready:
			w.WriteHeader(http.StatusOK)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	go func() { time.Sleep(2 * PollInterval); close(ready) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, WaitHTTP(ctx, srv.URL, nil))
}

func TestWaitHTTPFailsFastWhenTheProcessExits(t *testing.T) {
	p := shell(t, `echo "cannot bind"; exit 1`)
	addr, err := FreeAddr()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = WaitHTTP(ctx, "http://"+addr+"/", p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot bind")
	assert.NotErrorIs(t, err, context.DeadlineExceeded, "fails on the exit, not at the deadline")
}

func TestReadRecords(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sessions.jsonl")
	recs, err := ReadRecords(path)
	require.NoError(t, err, "no file yet is no records yet")
	assert.Empty(t, recs)

	lines := `{"schema_version":1,"session_id":"a","revision":0,"name":"one","tokens":{"input":3}}
{"schema_version":1,"session_id":"b","revision":0,"name":"two"}
{"schema_version":1,"session_id":"a","revision":1,"name":"one","tokens":{"input":5}}
{"schema_version":1,"session_id":"c","revi`
	require.NoError(t, os.WriteFile(path, []byte(lines), 0o644))
	recs, err = ReadRecords(path)
	require.NoError(t, err, "an unterminated last line is a write in progress")
	require.Len(t, recs, 3)
	latest := Latest(recs)
	require.Len(t, latest, 2)
	assert.Equal(t, 1, latest["a"].Revision)
	assert.EqualValues(t, 5, latest["a"].Tokens.Input)

	// A directory: every *.jsonl and rotated *.jsonl.N file in it.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sessions.jsonl.1"), []byte(`{"session_id":"old"}`+"\n"), 0o644))
	recs, err = ReadRecords(dir)
	require.NoError(t, err)
	assert.Len(t, recs, 4)

	require.NoError(t, os.WriteFile(path, []byte("not json\n"), 0o644))
	_, err = ReadRecords(path)
	assert.ErrorContains(t, err, "sessions.jsonl:1")
}

func TestJaegerClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/services":
			fmt.Fprint(w, `{"data":["crew"],"total":1}`)
		case "/api/traces/0af7651916cd43dd8448eb211c80319c":
			fmt.Fprint(w, `{"data":[{"traceID":"0af7651916cd43dd8448eb211c80319c","spans":[
			  {"spanID":"01","operationName":"session s","references":[],"tags":[{"key":"k","type":"int64","value":7}]},
			  {"spanID":"02","operationName":"invoke_agent a","references":[{"refType":"CHILD_OF","spanID":"01"}],
			   "logs":[{"timestamp":1,"fields":[{"key":"event","type":"string","value":"x"}]}]}]}]}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"data":null,"errors":[{"code":404,"msg":"trace not found"}]}`)
		}
	}))
	defer srv.Close()
	c := &JaegerClient{BaseURL: srv.URL + "/"}
	ctx := context.Background()

	svcs, err := c.Services(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"crew"}, svcs)

	tr, err := c.Trace(ctx, "0af7651916cd43dd8448eb211c80319c")
	require.NoError(t, err)
	require.Len(t, tr.Spans, 2)
	assert.Equal(t, "", tr.Spans[0].ParentID())
	assert.Equal(t, "01", tr.Spans[1].ParentID())
	assert.Equal(t, "7", tr.Spans[0].TagString("k"))
	assert.Equal(t, "", tr.Spans[0].TagString("missing"))
	v, ok := tr.Spans[1].Logs[0].Field("event")
	assert.True(t, ok)
	assert.Equal(t, "x", v)

	_, err = c.Trace(ctx, "ffffffffffffffffffffffffffffffff")
	assert.ErrorIs(t, err, ErrTraceNotFound)
}

func TestTruthAndRepoRoot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "truth.json")
	require.NoError(t, os.WriteFile(path, []byte(`[{"session_id":"s","trace_id":"t","name":"n","end_state":"Success",
	  "agents":[{"id":"a","name":"researcher","llm_calls":2,"tool_calls":1,"input_tokens":10,"output_tokens":4}],
	  "event_count":3,"input_tokens":10,"output_tokens":4,"span_count":5}]`), 0o644))
	truth, err := ReadTruth(path)
	require.NoError(t, err)
	require.Len(t, truth, 1)
	assert.Equal(t, 2, truth[0].Agents[0].LLMCalls)
	assert.Equal(t, 5, truth[0].SpanCount)

	root, err := RepoRoot()
	require.NoError(t, err)
	assert.FileExists(t, filepath.Join(root, "collector-config.yaml"))
}

func TestMonitoringQueriesRefusesUnnamedAndRepeatedBlocks(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "docs"), 0o755))
	write := func(s string) {
		require.NoError(t, os.WriteFile(filepath.Join(root, MonitoringDoc), []byte(s), 0o644))
	}
	write("text\n```promql\n# a\nsum(x)\n  by (y)\n```\n\n```sh\n# not promql\n```\n```promql\n# b:c\nup\n```\n")
	qs, err := MonitoringQueries(root)
	require.NoError(t, err)
	assert.Equal(t, []NamedQuery{{"a", "sum(x)\n  by (y)"}, {"b:c", "up"}}, qs)
	assert.Equal(t, "sum(x) by (y)", NormalizePromQL(qs[0].Query))

	write("```promql\nsum(x)\n```\n")
	_, err = MonitoringQueries(root)
	assert.ErrorContains(t, err, "naming it")
	write("```promql\n# a\nx\n```\n```promql\n# a\ny\n```\n")
	_, err = MonitoringQueries(root)
	assert.ErrorContains(t, err, `"a" named twice`)
	write("```promql\n# a\nx\n")
	_, err = MonitoringQueries(root)
	assert.ErrorContains(t, err, "unterminated")
}

// The configuration StartPrometheus runs is the repository's, with only the
// intervals and the targets changed, and promtool accepts it.
func TestWritePrometheusConfig(t *testing.T) {
	root, err := RepoRoot()
	require.NoError(t, err)
	src := filepath.Join(root, PrometheusDir)
	dst := t.TempDir()
	path, err := writePrometheusConfig(src, dst, map[string][]string{
		JobCrewtrace: {"127.0.0.1:1001"}, JobOtelcol: {"127.0.0.1:1002"},
	}, time.Second)
	require.NoError(t, err)

	read := func(p string) map[string]any {
		raw, err := os.ReadFile(p)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, yaml.Unmarshal(raw, &m))
		return m
	}
	orig, got := read(filepath.Join(src, "prometheus.yml")), read(path)
	assert.Equal(t, map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"}, got["global"])
	delete(orig, "global")
	delete(got, "global")
	assert.Equal(t, orig, got, "all but the intervals is the repository's configuration")

	for job, addr := range map[string]string{JobCrewtrace: "127.0.0.1:1001", JobOtelcol: "127.0.0.1:1002"} {
		raw, err := os.ReadFile(filepath.Join(dst, "targets", job+".yml"))
		require.NoError(t, err)
		assert.Contains(t, string(raw), addr)
	}
	rules, err := os.ReadFile(filepath.Join(src, "crewtrace-rules.yml"))
	require.NoError(t, err)
	copied, err := os.ReadFile(filepath.Join(dst, "crewtrace-rules.yml"))
	require.NoError(t, err)
	assert.Equal(t, string(rules), string(copied))

	out, err := exec.Command("promtool", "check", "config", path).CombinedOutput()
	assert.NoError(t, err, string(out))

	_, err = writePrometheusConfig(src, t.TempDir(), map[string][]string{"nope": {"127.0.0.1:1"}}, 0)
	assert.ErrorContains(t, err, `no file_sd job "nope"`)
}
