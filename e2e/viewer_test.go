package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/crewtrace/crewtrace/e2e/harness"
	"github.com/crewtrace/crewtrace/otelsession"
	"github.com/crewtrace/crewtrace/store"
)

// EnvScreenshotDir, when set, is where TestViewerInABrowser writes its
// screenshots of the three pages (`make screenshots` sets it to docs/);
// otherwise they go to the test's log directory, kept when it fails.
const EnvScreenshotDir = "CREWTRACE_SCREENSHOT_DIR"

// injection is what a hostile OTLP client puts in every string it controls:
// markup that would run script if the viewer inserted it as HTML, each
// setting window.pwned.
const injection = `<script>pwned=2</script><img src=x onerror=pwned=1><b>bold</b>&"'`

// TestViewerInABrowser runs the example crew through the collector with
// collector-config.yaml as shipped (the embedded store, sessions.db), starts
// `crewtrace ui` over that store with a token, and drives Debian's chromium
// through its pages: the list shows every session, the Fail filter exactly
// the failed ones with their reasons, each session's waterfall the spans
// Jaeger holds for its trace, the pages reach the last session; a session
// sent later by a hostile client appears on the open list without a reload,
// and its markup, in every field, renders as text and runs nothing.
func TestViewerInABrowser(t *testing.T) {
	ctx, env := newEnv(t)
	uiBin, err := harness.BuildCrewtrace(ctx, env.root, harness.BuildDir(env.root), testWriter{t})
	require.NoError(t, err)
	stack := env.startStack(t, ctx, harness.StackOptions{
		CollectorEnv: []string{harness.EnvGracePeriod + "=1s", harness.EnvSessionTimeout + "=30s"},
	})
	const sessions = 14
	env.runCrew(t, ctx, stack, "-tasks", fmt.Sprint(sessions), "-concurrency", "7", "-seed", "8", "-fail-rate", "0.4", "-truth", env.truthPath())
	truth, err := harness.ReadTruth(env.truthPath())
	require.NoError(t, err)
	require.Len(t, truth, sessions)
	waitForRecords(t, ctx, stack.SessionsPath(), truth)
	dbPath := filepath.Join(stack.SessionsDir, "sessions.db")
	st, err := store.Open(ctx, "sqlite:"+dbPath, store.ReadOnly())
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, harness.Poll(ctx, "every session in the store", func(ctx context.Context) (bool, string, error) {
		n, err := st.CountSessions(ctx, store.Filter{})
		return n == sessions, fmt.Sprintf("%d of %d", n, sessions), err
	}))

	const token = "e2e-viewer-token-0123456789"
	ui, uiURL, err := harness.StartViewer(ctx, env.logDir, []string{"CREWTRACE_UI_TOKEN=" + token}, uiBin,
		"--store", dbPath, "--listen", "127.0.0.1:0", "--jaeger", stack.JaegerUI)
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.NoError(t, ui.Stop(0))
		if t.Failed() {
			logTail(t, ui)
		}
	})
	require.True(t, strings.HasSuffix(uiURL, "/?token="+token), uiURL)
	base := strings.TrimSuffix(uiURL, "?token="+token)

	b := newBrowser(t, ctx)
	// The printed URL: the viewer sets its cookie and drops the token from
	// the address bar.
	do(t, b, chromedp.Navigate(uiURL), chromedp.WaitReady(chromedp.CSS("#sessions")))
	assert.Equal(t, base, run(t, b, chromedp.Location()), "the token leaves the address bar")

	byID := map[string]harness.Truth{}
	var failed []string
	for _, tr := range truth {
		byID[tr.SessionID] = tr
		if tr.EndState == "Fail" {
			failed = append(failed, tr.SessionID)
		}
	}
	require.NotEmpty(t, failed, "the crew's seed fails some tasks")
	require.Less(t, len(failed), sessions, "and not all")

	t.Run("list shows every session", func(t *testing.T) {
		rows := listRows(t, b, base+"?limit=1000")
		require.Len(t, rows, sessions)
		for _, r := range rows {
			tr, ok := byID[r.ID]
			if assert.True(t, ok, "a row for a session the crew ran: %s", r.ID) {
				assert.Equal(t, tr.Name, r.Name)
				assert.Equal(t, tr.EndState, r.State)
			}
		}
	})

	t.Run("filter Fail shows exactly the failed sessions with their reasons", func(t *testing.T) {
		// Through the form, as a user would.
		do(t, b, chromedp.Navigate(base), chromedp.WaitReady(chromedp.CSS("#apply")),
			chromedp.Click(chromedp.CSS(`input[name="state"][value="Fail"]`)),
			chromedp.Click(chromedp.CSS("#apply")))
		require.NoError(t, harness.Poll(ctx, "the filtered page", func(context.Context) (bool, string, error) {
			loc := run(t, b, chromedp.Location())
			return strings.Contains(loc, "state=Fail"), loc, nil
		}), "the URL holds the filter")
		do(t, b, chromedp.WaitReady(chromedp.CSS("#sessions")))
		rows := listRows(t, b, "")
		var ids []string
		for _, r := range rows {
			ids = append(ids, r.ID)
			assert.Equal(t, "Fail", r.State)
			assert.Equal(t, byID[r.ID].EndReason, r.Reason, r.ID)
		}
		assert.ElementsMatch(t, failed, ids)
	})

	t.Run("pagination reaches the last session", func(t *testing.T) {
		const limit = 4
		do(t, b, chromedp.Navigate(base+"?limit="+fmt.Sprint(limit)), chromedp.WaitReady(chromedp.CSS("#sessions")))
		var seen []string
		for pages := 1; ; pages++ {
			require.LessOrEqual(t, pages, sessions/limit+1)
			rows := listRows(t, b, "")
			for _, r := range rows {
				seen = append(seen, r.ID)
			}
			next := run(t, b, chromedp.Evaluate[string](`(document.getElementById("next-page") || {href: ""}).href`))
			if next == "" {
				assert.True(t, run(t, b, chromedp.Evaluate[bool](`document.getElementById("last-page") !== null`)), "the last page says so")
				assert.Equal(t, (sessions+limit-1)/limit, pages)
				break
			}
			require.Len(t, rows, limit)
			// Follow the link as a click would, and wait for the new page.
			do(t, b, chromedp.Navigate(next), chromedp.WaitReady(chromedp.CSS("#sessions")))
		}
		assert.Len(t, seen, sessions, "no session twice")
		var all []string
		for _, tr := range truth {
			all = append(all, tr.SessionID)
		}
		assert.ElementsMatch(t, all, seen)
	})

	t.Run("waterfall spans equal the trace's spans", func(t *testing.T) {
		for _, tr := range truth {
			jt := jaegerTrace(t, ctx, stack, tr)
			var want []string
			for _, sp := range jt.Spans {
				want = append(want, sp.SpanID)
			}
			do(t, b, chromedp.Navigate(base+"sessions/"+url.PathEscape(tr.SessionID)), chromedp.WaitReady(chromedp.CSS("#waterfall")))
			got := run(t, b, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#waterfall g.span")).map(g => g.dataset.id)`))
			jaegerLink := run(t, b, chromedp.Evaluate[string](`document.querySelector("a.jaeger").href`))
			assert.ElementsMatch(t, want, got, tr.Name)
			assert.Equal(t, stack.JaegerUI+"/trace/"+tr.TraceID, jaegerLink)
			if tr.LLMCalls == 0 {
				continue
			}
			// A click on a span shows its details (the LLM call's model).
			do(t, b, chromedp.Click(chromedp.CSS(`#waterfall g.k-llm`)))
			detail := run(t, b, chromedp.Text(chromedp.CSS(`section.detail:not([hidden])`)))
			assert.Contains(t, detail, "model")
			assert.Contains(t, detail, "tokens")
			// And every attribute, which the viewer reads from Jaeger.
			_, err := chromedp.Run(b, chromedp.Poll[bool](`document.querySelector("section.detail:not([hidden]) .jaeger-attrs.loaded") !== null`,
				chromedp.WithPollingTimeout(20*time.Second)))
			require.NoError(t, err, "the span's attributes from Jaeger")
			keys := run(t, b, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("section.detail:not([hidden]) .jaeger-attrs dt")).map(e => e.textContent)`))
			assert.Contains(t, keys, "gen_ai.request.model")
		}
	})

	t.Run("overview counts the sessions", func(t *testing.T) {
		do(t, b, chromedp.Navigate(base+"overview?range=1h"))
		total := run(t, b, chromedp.Text(chromedp.ID("total-sessions")))
		rate := run(t, b, chromedp.Text(chromedp.ID("success-rate")))
		assert.Equal(t, fmt.Sprint(sessions), total)
		assert.Equal(t, fmt.Sprintf("%.1f%%", 100*float64(sessions-len(failed))/float64(sessions)), rate)
	})

	t.Run("screenshots", func(t *testing.T) {
		dir := os.Getenv(EnvScreenshotDir)
		if dir == "" {
			dir = env.logDir
		}
		tr := truth[0]
		for _, tr2 := range truth {
			if tr2.EndState == "Fail" && len(tr2.Agents) > len(tr.Agents) {
				tr = tr2
			}
		}
		for name, u := range map[string]string{
			"viewer-sessions.png": base,
			"viewer-overview.png": base + "overview?range=1h&step=1m",
			"viewer-session.png":  base + "sessions/" + url.PathEscape(tr.SessionID),
		} {
			do(t, b, chromedp.Navigate(u), chromedp.WaitReady(chromedp.CSS("main")))
			png := run(t, b, chromedp.FullScreenshot(100))
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), png, 0o644))
		}
	})

	t.Run("a hostile session appears without reload and renders as text", func(t *testing.T) {
		// The open list polls the API; the hostile session's row is built by
		// the page's script.
		do(t, b, chromedp.Navigate(base), chromedp.WaitReady(chromedp.CSS("#sessions")))
		id := sendInjection(t, ctx, stack.Addrs.OTLPGRPC)
		_, err := chromedp.Run(b, chromedp.Poll[bool](
			fmt.Sprintf(`document.querySelector('#sessions tr.session.new[data-id=%q]') !== null`, id),
			chromedp.WithPollingTimeout(90*time.Second)))
		require.NoError(t, err, "the new session's row appears on the open page")
		checkNoScriptRan(t, b)
		name := run(t, b, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector('tr.session[data-id=%q] td.name a').textContent`, id)))
		reason := run(t, b, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector('tr.session[data-id=%q] .reason').textContent.trim()`, id)))
		assert.Equal(t, injection, name, "the name, as text, in the row the script built")
		assert.Equal(t, injection, reason)

		// The same row rendered by the server.
		rows := listRows(t, b, base)
		i := slices.IndexFunc(rows, func(r row) bool { return r.ID == id })
		require.GreaterOrEqual(t, i, 0)
		assert.Equal(t, injection, rows[i].Name)
		assert.Equal(t, []string{injection, "<i>tag</i>"}, rows[i].Tags)
		checkNoScriptRan(t, b)

		// Its session page: name, tags, reason, events, waterfall labels.
		type page struct {
			Name, Reason string
			Tags         []string
			Events       [][]string
			Spans        []string
			Details      []string
		}
		do(t, b, chromedp.Navigate(base+"sessions/"+url.PathEscape(id)), chromedp.WaitReady(chromedp.CSS("#waterfall")))
		got := run(t, b, chromedp.Evaluate[page](`({
				name: document.getElementById("session-name").textContent,
				reason: document.getElementById("end-reason").textContent,
				tags: Array.from(document.querySelectorAll("#tags .tag")).map(e => e.textContent),
				events: Array.from(document.querySelectorAll("#events tbody tr")).map(tr => Array.from(tr.cells).map(c => c.textContent)),
				spans: Array.from(document.querySelectorAll("#waterfall g.span title")).map(e => e.textContent),
				details: Array.from(document.querySelectorAll("section.detail h3")).map(e => e.textContent),
			})`))
		checkNoScriptRan(t, b)
		assert.Equal(t, injection, got.Name)
		assert.Equal(t, injection, got.Reason)
		assert.Equal(t, []string{injection, "<i>tag</i>"}, got.Tags)
		assert.Contains(t, got.Spans, "session "+injection)
		assert.Contains(t, got.Spans, "invoke_agent "+injection)
		assert.Contains(t, got.Details, "invoke_agent "+injection)
		var action []string
		for _, e := range got.Events {
			if len(e) > 2 && e[1] == "action" {
				action = e
			}
		}
		require.NotNil(t, action, "the action event is listed: %v", got.Events)
		assert.Equal(t, injection, action[2], "type")
		assert.Equal(t, injection, action[3], "agent")
		assert.Equal(t, injection, action[4], "returns")
		var lit strings.Builder
		enc := json.NewEncoder(&lit)
		enc.SetEscapeHTML(false)
		require.NoError(t, enc.Encode(injection))
		assert.Equal(t, "payload="+strings.TrimSpace(lit.String()), action[5], "params, as JSON literals")
		// The agent span's attributes, from Jaeger, through the page's script.
		do(t, b, chromedp.Click(chromedp.CSS(`#waterfall g.k-agent`)))
		_, err = chromedp.Run(b, chromedp.Poll[bool](`document.querySelector("section.detail:not([hidden]) .jaeger-attrs.loaded") !== null`,
			chromedp.WithPollingTimeout(20*time.Second)))
		require.NoError(t, err, "the agent span's attributes from Jaeger")
		agentName := run(t, b, chromedp.Evaluate[string](`(() => {
			const dts = Array.from(document.querySelectorAll("section.detail:not([hidden]) .jaeger-attrs dt"));
			const dt = dts.find(e => e.textContent === "gen_ai.agent.name");
			return dt ? dt.nextElementSibling.textContent : "";
		})()`))
		assert.Equal(t, injection, agentName)
		checkNoScriptRan(t, b)
		// And the overview's failure reasons.
		do(t, b, chromedp.Navigate(base+"overview?range=1h"), chromedp.WaitReady(chromedp.CSS("#reasons")))
		reasons := run(t, b, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#reasons tbody td:first-child")).map(e => e.textContent)`))
		assert.Contains(t, reasons, injection)
		checkNoScriptRan(t, b)
	})
}

// row is one session row of the list as the browser shows it.
type row struct {
	ID, Name, State, Reason string
	Tags                    []string
}

// listRows reads the session rows of the list page at u (the current page
// when u is "").
func listRows(t *testing.T, b context.Context, u string) []row {
	t.Helper()
	if u != "" {
		do(t, b, chromedp.Navigate(u))
	}
	do(t, b, chromedp.WaitReady(chromedp.CSS("#sessions")))
	return run(t, b, chromedp.Evaluate[[]row](`Array.from(document.querySelectorAll("#sessions tr.session")).map(tr => ({
		id: tr.dataset.id,
		name: tr.querySelector("td.name a").textContent,
		state: tr.querySelector("td.state .st").textContent,
		reason: (tr.querySelector("td.state .reason") || {textContent: ""}).textContent.trim(),
		tags: Array.from(tr.querySelectorAll("td.tags .tag")).map(e => e.textContent),
	}))`))
}

// do runs browser actions that return nothing.
func do(t *testing.T, b context.Context, acts ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	require.NoError(t, chromedp.Do(b, acts...))
}

// run runs one browser action and returns its value.
func run[T any](t *testing.T, b context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(b, a)
	require.NoError(t, err)
	return v
}

// checkNoScriptRan asserts that no payload ran: window.pwned is unset and
// no element the payload names exists outside text.
func checkNoScriptRan(t *testing.T, b context.Context) {
	t.Helper()
	type pageState struct {
		Pwned   bool
		Imgs    int
		Scripts []string
		Bolds   int
	}
	state := run(t, b, chromedp.Evaluate[pageState](`({
		pwned: window.pwned !== undefined,
		imgs: document.querySelectorAll('img[src="x"]').length,
		scripts: Array.from(document.scripts).map(s => s.getAttribute("src") || "inline"),
		bolds: Array.from(document.querySelectorAll("b")).filter(e => e.textContent === "bold").length,
	})`))
	assert.False(t, state.Pwned, "window.pwned was set: a payload ran")
	assert.Zero(t, state.Imgs, "an <img> from a payload is in the DOM")
	assert.Equal(t, []string{"/static/app.js"}, state.Scripts, "the viewer's own script only")
	assert.Zero(t, state.Bolds, "a <b> from a payload is in the DOM")
}

// sendInjection sends one session over OTLP, as any client could, whose
// name, tags, agent name, event type, returns, params and end reason are
// all markup; it returns the session ID.
func sendInjection(t *testing.T, ctx context.Context, endpoint string) string {
	t.Helper()
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure())
	require.NoError(t, err)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp),
		sdktrace.WithResource(sdkresource.NewSchemaless(attribute.String("service.name", injection))))
	defer func() { require.NoError(t, tp.Shutdown(context.Background())) }()
	sctx, sess := otelsession.Start(ctx, otelsession.WithName(injection), otelsession.WithTags(injection, "<i>tag</i>"),
		otelsession.WithTracerProvider(tp))
	actx, agent, err := sess.StartAgent(sctx, injection)
	require.NoError(t, err)
	require.NoError(t, otelsession.RecordEvent(actx, otelsession.Event{Type: injection, Kind: otelsession.KindAction,
		Returns: injection, Params: map[string]any{"payload": injection}}))
	agent.End(nil)
	require.NoError(t, sess.End(otelsession.Fail, injection))
	return sess.ID()
}

// jaegerTrace waits until Jaeger holds all of the session's spans.
func jaegerTrace(t *testing.T, ctx context.Context, stack *harness.Stack, tr harness.Truth) harness.JaegerTrace {
	t.Helper()
	var jt harness.JaegerTrace
	require.NoError(t, harness.Poll(ctx, "the trace in Jaeger", func(ctx context.Context) (bool, string, error) {
		var err error
		jt, err = stack.Query.Trace(ctx, tr.TraceID)
		if errors.Is(err, harness.ErrTraceNotFound) {
			return false, "not found yet", nil
		}
		return err == nil && len(jt.Spans) >= tr.SpanCount, fmt.Sprintf("%d spans", len(jt.Spans)), err
	}))
	return jt
}

// newBrowser starts Debian's chromium, headless, for the test.
func newBrowser(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	require.NotEmpty(t, path, "no chromium on PATH: install Debian's chromium (.ci/run does)")
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.WindowSize(1400, 1000),
		chromedp.Flag("disable-dev-shm-usage", true))
	if os.Geteuid() == 0 {
		// Chromium refuses to run as root with its sandbox.
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	require.NoError(t, chromedp.Do(bctx), "starting %s", path)
	return bctx
}
