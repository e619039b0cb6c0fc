package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/record"
	"github.com/crewtrace/crewtrace/store"
	"github.com/crewtrace/crewtrace/store/pgtest"
)

var srv *pgtest.Server

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &srv)) }

// base is the start of the test records' time line: recent, so that
// --since with a duration selects among them.
var base = time.Now().UTC().Add(-time.Hour).Truncate(time.Second)

// rec builds a record of session id, trace trace, revision rev.
func rec(id, trace string, rev int, at time.Duration, opts ...func(*record.Record)) *record.Record {
	r := &record.Record{
		SchemaVersion: record.SchemaVersion, SessionID: id, TraceID: trace, Revision: rev,
		Source: "crewtrace", Name: "triage", Tags: []string{"prod"},
		StartTime: base.Add(at), EndTime: base.Add(at + 1500*time.Millisecond), DurationMs: 1500,
		EndState: "Success", Complete: true, FlushReason: record.FlushGracePeriod,
		Resource:  map[string]any{"service.name": "crew"},
		SpanCount: 4, Counts: record.Counts{Agents: 1, LLMCalls: 1, ToolCalls: 1, Actions: 1},
		Tokens: record.Tokens{Input: 120, Output: 40, Total: 160},
		Agents: []record.Agent{{ID: "a-" + id, Name: "researcher", SpanCount: 3, LLMCalls: 1, ToolCalls: 1,
			Tokens: record.Tokens{Input: 120, Output: 40, Total: 160}}},
		Events: []record.Event{{Kind: "action", Type: "summarise", Time: base.Add(at + time.Second),
			AgentID: "a-" + id, AgentName: "researcher", Params: map[string]any{"sources": 3}}},
		TraceURL: "http://127.0.0.1:16686/trace/" + trace,
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

func failed(reason string) func(*record.Record) {
	return func(r *record.Record) {
		r.EndState, r.EndReason = "Fail", reason
		r.Counts.Errors = 1
		r.Events = append(r.Events, record.Event{Kind: "error", Type: "llm_error", Time: r.StartTime.Add(time.Second),
			ErrorType: "timeout", Message: reason})
	}
}

func encode(t testing.TB, r *record.Record) record.Encoded {
	e, err := record.Encode(r)
	require.NoError(t, err)
	return e
}

// withSpans adds a compact span list (the record's `spans`) to a record's JSON.
func withSpans(t testing.TB, e record.Encoded, spans []map[string]any) record.Encoded {
	var m map[string]any
	require.NoError(t, json.Unmarshal(e.JSON, &m))
	m["spans"] = spans
	b, err := json.Marshal(m)
	require.NoError(t, err)
	e.JSON = b
	return e
}

// fixture is the test data set: three sessions, one of them over two traces
// whose first trace has two revisions, written in an order that puts a
// lower revision last.
func fixture(t testing.TB) []record.Encoded {
	return []record.Encoded{
		encode(t, rec("s-ok", "t1", 0, 0)),
		encode(t, rec("s-chat", "t2", 1, 10*time.Minute, failed("upstream timeout"))),
		encode(t, rec("s-chat", "t2", 0, 10*time.Minute)), // older revision, after the newer one
		encode(t, rec("s-chat", "t3", 0, 12*time.Minute, func(r *record.Record) { r.Name = "chat turn 2" })),
		encode(t, rec("s-old", "t4", 0, -3*time.Hour, func(r *record.Record) { r.Name = "nightly"; r.Tags = []string{"batch"} })),
	}
}

// A source kind the tests run over: the arguments that select it.
type sourceKind struct {
	name string
	make func(t *testing.T, recs []record.Encoded) []string
}

func writeStore(t *testing.T, dsn string, recs []record.Encoded) {
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	require.NoError(t, err)
	defer st.Close()
	for _, r := range recs { // one at a time: the order matters
		require.NoError(t, st.Write(ctx, []record.Encoded{r}))
	}
}

func writeFile(t *testing.T, path string, recs []record.Encoded) {
	var b bytes.Buffer
	for _, r := range recs {
		b.Write(r.JSON)
		b.WriteByte('\n')
	}
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o600))
}

var sources = []sourceKind{
	{"sqlite", func(t *testing.T, recs []record.Encoded) []string {
		p := filepath.Join(t.TempDir(), "sessions.db")
		writeStore(t, p, recs)
		return []string{"--store", p}
	}},
	{"postgres", func(t *testing.T, recs []record.Encoded) []string {
		dsn := srv.DSN(srv.NewDatabase(t))
		writeStore(t, dsn, recs)
		return []string{"--store", dsn}
	}},
	{"jsonl", func(t *testing.T, recs []record.Encoded) []string {
		p := filepath.Join(t.TempDir(), "sessions.jsonl")
		writeFile(t, p, recs)
		return []string{"--file", p}
	}},
}

func forEachSource(t *testing.T, recs []record.Encoded, f func(t *testing.T, src []string)) {
	for _, k := range sources {
		t.Run(k.name, func(t *testing.T) { f(t, k.make(t, recs)) })
	}
}

// crewtrace runs the command line and returns its exit code, stdout and stderr.
func crewtrace(ctx context.Context, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func args(sub string, src []string, more ...string) []string {
	return append(append([]string{"sessions", sub}, src...), more...)
}

// tableRows returns the rows of a printed session table by session ID.
func tableRows(t *testing.T, out string) map[string][]string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.GreaterOrEqual(t, len(lines), 2, out)
	require.True(t, strings.HasPrefix(lines[0], "SESSION ID"), out)
	rows := map[string][]string{}
	for _, l := range lines[1 : len(lines)-1] {
		f := strings.Fields(l)
		rows[f[0]] = f
	}
	return rows
}

func TestLsMergesTracesAndKeepsHighestRevisionOnEverySource(t *testing.T) {
	var outs []string
	forEachSource(t, fixture(t), func(t *testing.T, src []string) {
		code, out, errOut := crewtrace(context.Background(), args("ls", src)...)
		require.Equal(t, 0, code, errOut)
		rows := tableRows(t, out)
		require.Len(t, rows, 3, out)
		// s-chat: two traces merged — the name of the first, the end state
		// of the last (t3, Success), t2 at revision 1 (its error counted),
		// the sums of both traces.
		chat := strings.Join(rows["s-chat"], " ")
		assert.Contains(t, chat, "s-chat triage Success")
		assert.Contains(t, chat, "2 2 2 2 1 240/80", "agents llm tools actions errors tokens summed over the traces")
		assert.Contains(t, out, "3 sessions")
		// Newest first.
		assert.Less(t, strings.Index(out, "s-chat"), strings.Index(out, "s-ok"))
		assert.Less(t, strings.Index(out, "s-ok"), strings.Index(out, "s-old"))
		outs = append(outs, out)
	})
	require.Len(t, outs, 3)
	assert.Equal(t, outs[0], outs[1], "sqlite and postgres print the same")
	assert.Equal(t, outs[0], outs[2], "store and JSONL file print the same")
}

func TestLsFilters(t *testing.T) {
	forEachSource(t, fixture(t), func(t *testing.T, src []string) {
		for _, tc := range []struct {
			name  string
			flags []string
			want  []string
		}{
			{"state fail (any case) matches nothing: the chat's last trace succeeded", []string{"--state", "fail"}, nil},
			{"state success", []string{"--state", "Success,Indeterminate"}, []string{"s-chat", "s-ok", "s-old"}},
			{"search in tags", []string{"--search", "BATCH"}, []string{"s-old"}},
			{"search in end reason", []string{"--search", "upstream"}, []string{"s-chat"}},
			{"since a duration", []string{"--since", "2h"}, []string{"s-chat", "s-ok"}},
			{"since a time", []string{"--since", base.Add(5 * time.Minute).Format(time.RFC3339)}, []string{"s-chat"}},
			{"errors", []string{"--errors"}, []string{"s-chat"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code, out, errOut := crewtrace(context.Background(), args("ls", src, tc.flags...)...)
				require.Equal(t, 0, code, errOut)
				var got []string
				for id := range tableRows(t, out) {
					got = append(got, id)
				}
				assert.ElementsMatch(t, tc.want, got, out)
			})
		}
		code, out, _ := crewtrace(context.Background(), args("ls", src, "--limit", "1")...)
		require.Equal(t, 0, code)
		assert.Len(t, tableRows(t, out), 1)
		assert.Contains(t, out, "1 of 3 sessions (--limit for more)")
	})
}

func TestShowPrintsSummaryAgentsEventsAndWaterfall(t *testing.T) {
	r := rec("s-wf", "t9", 0, 0)
	r.Events = append(r.Events, record.Event{Kind: "error", Type: "tool_error", Time: base.Add(1200 * time.Millisecond),
		AgentName: "researcher", ErrorType: "io", Message: "disk full"})
	r.Counts.Errors = 1
	e := withSpans(t, encode(t, r), []map[string]any{
		{"id": "01", "kind": "session", "name": "session triage", "start_us": 0, "duration_us": 1500000, "agent": -1},
		{"id": "02", "parent_id": "01", "kind": "agent", "name": "invoke_agent researcher", "start_us": 100000, "duration_us": 1300000, "agent": 0},
		{"id": "03", "parent_id": "02", "kind": "llm", "name": "chat gpt-4o", "start_us": 200000, "duration_us": 600000, "agent": 0,
			"model": "gpt-4o", "tokens": map[string]any{"input": 120, "output": 40, "total": 160}, "events": []int{0}},
		{"id": "04", "parent_id": "02", "kind": "tool", "name": "execute_tool web_search", "start_us": 900000, "duration_us": 400000, "agent": 0,
			"tool": "web_search", "error": true, "message": "disk full", "events": []int{1}},
	})
	forEachSource(t, []record.Encoded{e}, func(t *testing.T, src []string) {
		code, out, errOut := crewtrace(context.Background(), args("show", src, "s-wf")...)
		require.Equal(t, 0, code, errOut)
		assert.Contains(t, out, "1.5s | 1 LLM calls | 1 tools | 1 actions | 1 errors | 160 tokens (120 in, 40 out)")
		assert.Contains(t, out, "http://127.0.0.1:16686/trace/t9")
		assert.Regexp(t, `researcher\s+a-s-wf\s+3\s+1\s+1\s+0\s+120/40`, out)
		assert.Regexp(t, `\+1s\s+action\s+summarise\s+researcher\s+sources=3`, out)
		assert.Regexp(t, `\+1.2s\s+error\s+tool_error\s+researcher\s+io: disk full`, out)
		// The waterfall: one line per span, children indented under their
		// parent in start order, the error marked, events on their spans.
		lines := strings.Split(out[strings.Index(out, "WATERFALL"):], "\n")
		require.GreaterOrEqual(t, len(lines), 6, out)
		assert.Contains(t, lines[2], "  session triage")
		assert.Contains(t, lines[3], "    invoke_agent researcher")
		assert.Contains(t, lines[4], "      chat gpt-4o")
		assert.Contains(t, lines[4], "gpt-4o  120/40 tokens  ◆ summarise")
		assert.Contains(t, lines[5], "✗     execute_tool web_search")
		assert.Contains(t, lines[5], "tool web_search  ◆ tool_error  ERROR: disk full")
		assert.Contains(t, lines[5], "◆", "the event's marker is on the bar")
		assert.Regexp(t, `\+900ms\s+400ms`, lines[5])
		// Flags after the ID work too.
		code, out2, _ := crewtrace(context.Background(), append([]string{"sessions", "show", "s-wf"}, src...)...)
		require.Equal(t, 0, code)
		assert.Equal(t, out, out2)
	})
}

func TestShowWithoutSpanListShowsCalls(t *testing.T) {
	r := rec("s-nospans", "t1", 0, 0, func(r *record.Record) {
		r.Models = []record.Model{{Provider: "openai", Model: "gpt-4o", LLMCalls: 1, Tokens: r.Tokens}}
		r.Tools = []record.Tool{{Name: "web_search", Calls: 1}}
	})
	forEachSource(t, []record.Encoded{encode(t, r)}, func(t *testing.T, src []string) {
		code, out, errOut := crewtrace(context.Background(), args("show", src, "s-nospans")...)
		require.Equal(t, 0, code, errOut)
		assert.Contains(t, out, "this record has no span list")
		assert.Regexp(t, `llm\s+openai\s+gpt-4o\s+1 calls\s+120/40 tokens`, out)
		assert.Regexp(t, `tool\s+web_search\s+1 calls\s+0 errors`, out)
	})
}

// hostile is what any OTLP client can put in a record's strings: terminal
// escape sequences (clear screen, window title, cursor moves), a carriage
// return that would overwrite the line, bidi overrides and C1 controls.
// (Invalid UTF-8 cannot reach a record: JSON decoding replaces it; clean
// escapes it anyway, see TestClean.)
const hostile = "evil\x1b[2J\x1b]0;pwned\x07\r\u202egnp.exe\u0085\u2028\u009b31m"

func hostileRecord(t testing.TB) record.Encoded {
	r := rec(hostile+"id", "t1", 0, 0, failed(hostile))
	r.Name, r.Tags = hostile, []string{hostile}
	r.Resource["service.name"] = hostile
	r.Agents[0].Name, r.Agents[0].ID = hostile, hostile
	r.Events[0].Type, r.Events[0].AgentName, r.Events[0].Returns = hostile, hostile, hostile
	r.Events[0].Params = map[string]any{hostile: hostile}
	r.TraceURL = "http://x/" + hostile
	return withSpans(t, encode(t, r), []map[string]any{
		{"id": "01", "kind": hostile, "name": hostile, "start_us": 0, "duration_us": 10, "agent": -1,
			"error": true, "message": hostile, "model": hostile, "tool": hostile, "events": []int{0}},
	})
}

// assertTerminalSafe fails if out holds any byte a terminal would act on
// other than the newline: C0 controls, DEL, C1 controls, bidi controls,
// line separators or invalid UTF-8.
func assertTerminalSafe(t *testing.T, out string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		assert.True(t, safe(line), "unsafe line: %q", line)
	}
	assert.NotContains(t, out, "\x1b")
	assert.NotContains(t, out, "\r")
}

func TestEveryStringFromARecordIsEscapedOnTheTerminal(t *testing.T) {
	e := hostileRecord(t)
	forEachSource(t, []record.Encoded{e}, func(t *testing.T, src []string) {
		code, out, errOut := crewtrace(context.Background(), args("ls", src)...)
		require.Equal(t, 0, code, errOut)
		assertTerminalSafe(t, out)
		assert.Contains(t, out, `evil\x1b[2J\x1b]0;pwned\x07\x0d\u202egn`, "escapes are shown, not acted on")

		code, out, errOut = crewtrace(context.Background(), args("show", src, hostile+"id")...)
		require.Equal(t, 0, code, errOut)
		assertTerminalSafe(t, out)
		assert.Contains(t, out, `\u0085\u2028\u009b31m`)
		assert.GreaterOrEqual(t, strings.Count(out, `evil\x1b`), 10, "name, tags, service, reason, agent, events, span")

		code, out, errOut = crewtrace(context.Background(), args("tail", src, "--since", "24h", "--wait", "1", "--timeout", "10s")...)
		require.Equal(t, 0, code, errOut)
		assertTerminalSafe(t, out)

		code, _, errOut = crewtrace(context.Background(), args("show", src, hostile)...)
		require.Equal(t, 1, code)
		assertTerminalSafe(t, errOut)
	})
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, ünïcødé, 日本語 ✓": "plain text, ünïcødé, 日本語 ✓",
		"a\tb\nc\rd":                 `a\x09b\x0ac\x0dd`,
		"\x1b[31mred\x1b[0m":         `\x1b[31mred\x1b[0m`,
		"\x7f\u0080\u009f":           `\x7f\u0080\u009f`,
		"\u202eevil\u2066\u200f":     `\u202eevil\u2066\u200f`,
		"bad \xff\xfe utf8":          `bad \xff\xfe utf8`,
		"C:\\path":                   `C:\path`,
	} {
		assert.Equal(t, want, clean(in), "%q", in)
		assert.True(t, safe(clean(in)))
	}
}

func TestBadInputFailsWithANamedError(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	good := filepath.Join(dir, "sessions.jsonl")
	writeFile(t, good, fixture(t))
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no source", []string{"sessions", "ls"}, 2, "give one of --store"},
		{"two sources", []string{"sessions", "ls", "--store", "x.db", "--file", good}, 2, "give one of --store"},
		{"no subcommand", []string{"sessions"}, 2, "a subcommand is needed"},
		{"unknown subcommand", []string{"sessions", "rm"}, 2, `unknown subcommand "rm"`},
		{"unknown flag", []string{"sessions", "ls", "--file", good, "--nope"}, 2, "flag provided but not defined: -nope"},
		{"bad --since", []string{"sessions", "ls", "--file", good, "--since", "yesterday"}, 2, `want a duration (90m) or a time`},
		{"bad --limit", []string{"sessions", "ls", "--file", good, "--limit", "0"}, 2, "--limit 0, want 1..1000"},
		{"show without ID", []string{"sessions", "show", "--file", good}, 2, "want one session ID"},
		{"unknown session ID", []string{"sessions", "show", "--file", good, "s-nope"}, 1, "session not found: s-nope in " + good},
		{"missing file", []string{"sessions", "ls", "--file", filepath.Join(dir, "none.jsonl")}, 1, "cannot read the session records file: stat " + filepath.Join(dir, "none.jsonl") + ": no such file or directory"},
		{"file is a directory", []string{"sessions", "ls", "--file", dir}, 1, "is a directory"},
		{"missing SQLite store", []string{"sessions", "ls", "--store", filepath.Join(dir, "none.db")}, 1, "cannot open the session store " + filepath.Join(dir, "none.db") + ": store: SQLite store"},
		{"SQLite file without the schema", []string{"sessions", "ls", "--store", good}, 1, "cannot open the session store"},
		{"malformed PostgreSQL DSN", []string{"sessions", "ls", "--store", "postgres://u:secret@host:notaport/db"}, 1, "cannot open the session store"},
		{"unreachable PostgreSQL", []string{"sessions", "tail", "--store", "postgres://u:secret@127.0.0.1:1/db?sslmode=disable", "--wait", "1"}, 1, "connection refused"},
		{"PostgreSQL without the schema", []string{"sessions", "ls", "--store", srv.DSN(srv.NewDatabase(t))}, 1, "store: schema missing or too old"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := crewtrace(ctx, tc.args...)
			assert.Equal(t, tc.code, code, errOut)
			assert.Empty(t, out)
			assert.Contains(t, errOut, tc.want)
			assert.NotContains(t, errOut, "secret", "passwords are masked")
			assert.NotContains(t, errOut, srv.Password, "passwords are masked")
		})
	}
}

func TestFileLinesThatAreNotRecordsAreReportedAndTheRestRead(t *testing.T) {
	recs := fixture(t)
	p := filepath.Join(t.TempDir(), "sessions.jsonl")
	var b bytes.Buffer
	b.Write(recs[0].JSON)
	b.WriteString("\n\n{not json\n")
	b.WriteString(`{"schema_version": 99, "session_id": "x"}` + "\n")
	b.Write(recs[4].JSON)
	b.WriteString("\n")
	b.Write(recs[1].JSON[:40]) // a cut last line (a writer mid-line, or a crash)
	require.NoError(t, os.WriteFile(p, b.Bytes(), 0o600))
	code, out, errOut := crewtrace(context.Background(), "sessions", "ls", "--file", p)
	require.Equal(t, 0, code, errOut)
	assert.Len(t, tableRows(t, out), 2)
	assert.Contains(t, errOut, p+":3: not a session record, skipped: invalid session record")
	assert.Contains(t, errOut, p+":4: not a session record, skipped: invalid session record: schema_version 99")
	assert.NotContains(t, errOut, ":6:", "an unterminated last line that is not a record is a line still being written")
}

func TestTailPrintsSessionsAsTheyLandAndExitsOnceNHave(t *testing.T) {
	recs := fixture(t)
	for _, kind := range []string{"sqlite", "jsonl"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			var src []string
			var add func(rs ...record.Encoded)
			if kind == "sqlite" {
				p := filepath.Join(dir, "sessions.db")
				writeStore(t, p, recs[:1]) // already there: not printed without --since
				src = []string{"--store", p}
				add = func(rs ...record.Encoded) { writeStore(t, p, rs) }
			} else {
				p := filepath.Join(dir, "sessions.jsonl")
				writeFile(t, p, recs[:1])
				src = []string{"--file", p}
				add = func(rs ...record.Encoded) {
					f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
					require.NoError(t, err)
					for _, r := range rs {
						// Written in two parts: a reader must wait for the line's end.
						_, err = f.Write(r.JSON[:10])
						require.NoError(t, err)
						time.Sleep(30 * time.Millisecond)
						_, err = f.Write(append(r.JSON[10:], '\n'))
						require.NoError(t, err)
					}
					require.NoError(t, f.Close())
				}
			}
			var out, errOut syncBuffer
			done := make(chan int)
			go func() {
				done <- run(context.Background(), args("tail", src, "--wait", "2", "--timeout", "60s", "--poll", "20ms"), &out, &errOut)
			}()
			// Two revisions of one trace and then another session: three
			// landings, two sessions.
			require.Eventually(t, func() bool { return strings.Contains(errOut.String(), "following") }, 10*time.Second, 10*time.Millisecond)
			add(recs[2], recs[1])
			select {
			case code := <-done:
				t.Fatalf("tail exited (%d) after one session: %s %s", code, out.String(), errOut.String())
			case <-time.After(300 * time.Millisecond):
			}
			add(recs[4])
			select {
			case code := <-done:
				require.Equal(t, 0, code, errOut.String())
			case <-time.After(30 * time.Second):
				t.Fatal("tail did not exit once two sessions had landed")
			}
			assert.Contains(t, out.String(), "s-chat")
			assert.Contains(t, out.String(), "s-old")
			assert.NotContains(t, out.String(), "s-ok", "stored before the tail began")
		})
	}
}

func TestTailSinceIncludesStoredSessions(t *testing.T) {
	forEachSource(t, fixture(t), func(t *testing.T, src []string) {
		code, out, errOut := crewtrace(context.Background(), args("tail", src, "--since", "2h", "--wait", "2", "--timeout", "20s")...)
		require.Equal(t, 0, code, errOut)
		assert.Contains(t, out, "s-chat")
		assert.Contains(t, out, "s-ok")
		assert.NotContains(t, out, "s-old", "started before --since")
	})
}

func TestTailTimesOutWithAnError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sessions.jsonl")
	writeFile(t, p, fixture(t))
	code, _, errOut := crewtrace(context.Background(), "sessions", "tail", "--file", p, "--wait", "1", "--timeout", "300ms", "--poll", "20ms")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "timed out after 300ms: 0 of 1 sessions landed in "+p)

	// Without --wait, --timeout ends the tail normally.
	code, _, errOut = crewtrace(context.Background(), "sessions", "tail", "--file", p, "--timeout", "100ms", "--poll", "20ms")
	assert.Equal(t, 0, code, errOut)

	// Interrupted while waiting: an error that says so.
	ctx, cancel := context.WithCancel(context.Background())
	var out2, errOut2 syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"sessions", "tail", "--file", p, "--wait", "1", "--poll", "20ms"}, &out2, &errOut2)
	}()
	require.Eventually(t, func() bool { return strings.Contains(errOut2.String(), "following") }, 10*time.Second, 10*time.Millisecond)
	cancel()
	code = <-done
	errOut = errOut2.String()
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "interrupted: 0 of 1 sessions landed")
}

func TestRedactDSN(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:pw@h:5432/db?sslmode=disable": "postgres://u:xxxxx@h:5432/db?sslmode=disable",
		"postgresql://u@h/db?password=pw":           "postgresql://u@h/db?password=xxxxx",
		"host=h dbname=d password=pw user=u":        "host=h dbname=d password=xxxxx user=u",
		"host=h password='p w\\'x' user=u":          "host=h password=xxxxx user=u",
		"/var/lib/crewtrace/sessions.db":            "/var/lib/crewtrace/sessions.db",
		"sqlite:sessions.db":                        "sqlite:sessions.db",
	} {
		assert.Equal(t, want, redactDSN(in), in)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
