package viewer

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/record"
	"github.com/crewtrace/crewtrace/store"
	"github.com/crewtrace/crewtrace/store/storetest"
)

// payload is what a hostile OTLP client writes into every string field.
const payload = `<script>window.pwned=1</script><img src=x onerror="window.pwned=1">"'&`

// testStore writes n generated sessions and one hostile session into a new
// SQLite store and returns it opened read-only, with the hostile session's ID.
func testStore(t testing.TB, n int) (*store.Store, string) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sessions.db")
	w, err := store.Open(ctx, path)
	require.NoError(t, err)
	gen := storetest.NewGenerator(7)
	var batch []record.Encoded
	for i := range n {
		for _, r := range gen.Session(i) {
			e, err := record.Encode(r)
			require.NoError(t, err)
			batch = append(batch, e)
		}
	}
	hostile := gen.Session(n)[0]
	hostile.SessionID = "evil/" + payload
	hostile.Name = payload
	hostile.Tags = []string{payload, "javascript:alert(1)"}
	hostile.EndState, hostile.EndReason = "Fail", payload
	hostile.Resource = map[string]any{"service.name": payload}
	hostile.Events = []record.Event{{Kind: "action", Type: payload, Time: hostile.StartTime, Returns: payload,
		Params: map[string]any{payload: payload}}}
	hostile.Spans[0].Name = payload
	hostile.Spans[0].Events = []int{0}
	e, err := record.Encode(hostile)
	require.NoError(t, err)
	batch = append(batch, e)
	require.NoError(t, w.Write(ctx, batch))
	require.NoError(t, w.Close())
	r, err := store.Open(ctx, path, store.ReadOnly())
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	return r, hostile.SessionID
}

func newViewer(t testing.TB, st *store.Store, token string) *Viewer {
	t.Helper()
	v, err := New(Config{Store: st, Token: token, JaegerURL: "http://127.0.0.1:16686/",
		Now: func() time.Time { return storetest.End }})
	require.NoError(t, err)
	return v
}

// get serves one request on the loopback Host the viewer expects.
func get(v http.Handler, target string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.Host = "127.0.0.1:8080"
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	v.ServeHTTP(w, r)
	return w
}

func TestAPISessionsPagesThroughEverySession(t *testing.T) {
	st, _ := testStore(t, 120)
	v := newViewer(t, st, "")
	seen := map[string]bool{}
	next := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		w := get(v, "/api/sessions?limit=50&after="+url.QueryEscape(next))
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
		var l ListJSON
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &l))
		for _, s := range l.Sessions {
			assert.False(t, seen[s.SessionID], "a session on two pages")
			seen[s.SessionID] = true
		}
		if next = l.Next; next == "" {
			break
		}
	}
	assert.Len(t, seen, 121)
}

func TestAPISessionsFilterByEndState(t *testing.T) {
	st, _ := testStore(t, 200)
	v := newViewer(t, st, "")
	w := get(v, "/api/sessions?state=Fail&limit=1000")
	require.Equal(t, http.StatusOK, w.Code)
	var l ListJSON
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &l))
	n, err := st.CountSessions(context.Background(), store.Filter{EndStates: []string{"Fail"}})
	require.NoError(t, err)
	require.NotZero(t, n)
	assert.Len(t, l.Sessions, int(n))
	for _, s := range l.Sessions {
		assert.Equal(t, "Fail", s.EndState)
		assert.NotEmpty(t, s.EndReason)
	}
}

func TestAPISessionAndOverview(t *testing.T) {
	st, evil := testStore(t, 50)
	v := newViewer(t, st, "")
	w := get(v, "/api/sessions/"+url.PathEscape(evil))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var d DetailJSON
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &d))
	assert.Equal(t, payload, d.Session.Name)
	require.Len(t, d.Traces, 1)
	var rec record.Record
	require.NoError(t, json.Unmarshal(d.Traces[0].Record, &rec))
	assert.Equal(t, payload, rec.Name)
	assert.Equal(t, "http://127.0.0.1:16686/trace/"+rec.TraceID, d.Traces[0].JaegerURL)
	assert.NotContains(t, w.Body.String(), "<script>", "encoding/json escapes < in the API too")

	w = get(v, "/api/sessions/no-such-session")
	assert.Equal(t, http.StatusNotFound, w.Code)

	w = get(v, "/api/overview?range=7d")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var o OverviewJSON
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &o))
	n, err := st.CountSessions(context.Background(), store.Filter{From: o.From, To: o.To})
	require.NoError(t, err)
	assert.Equal(t, n, o.Totals.Sessions)
	assert.NotEmpty(t, o.Buckets)
	assert.NotEmpty(t, o.FailureReasons)
}

func TestBadQueriesAreRefusedWithTheirReason(t *testing.T) {
	st, _ := testStore(t, 5)
	v := newViewer(t, st, "")
	for target, want := range map[string]string{
		"/api/sessions?sort=name":                 `sort=\"name\"`,
		"/api/sessions?from=yesterday":            `from=\"yesterday\" is not a time`,
		"/api/sessions?limit=0":                   `limit=\"0\"`,
		"/api/sessions?after=garbage":             "invalid cursor",
		"/api/overview?range=1y":                  `range=\"1y\"`,
		"/api/overview?step=1ms":                  `step=\"1ms\"`,
		"/?order=sideways":                        "order=&#34;sideways&#34;",
		"/overview?from=2026-12-02&to=2026-12-01": "from must be before to",
	} {
		w := get(v, target)
		assert.Equal(t, http.StatusBadRequest, w.Code, target)
		assert.Contains(t, w.Body.String(), want, target)
	}
}

func TestPagesRenderEveryStringAsText(t *testing.T) {
	st, evil := testStore(t, 20)
	v := newViewer(t, st, "")
	for _, target := range []string{"/", "/?q=" + url.QueryEscape("<script>"), "/sessions/" + url.PathEscape(evil), "/overview?range=30d"} {
		w := get(v, target)
		require.Equal(t, http.StatusOK, w.Code, target)
		body := w.Body.String()
		assert.NotContains(t, body, "<script>window", target)
		assert.NotContains(t, body, "<img src=x", target)
		assert.Equal(t, 1, strings.Count(body, "<script"), "%s: only the viewer's own script tag", target)
		assert.Contains(t, body, `<script src="/static/app.js" defer></script>`, target)
	}
	body := get(v, "/sessions/"+url.PathEscape(evil)).Body.String()
	assert.Contains(t, body, "&lt;script&gt;window.pwned=1&lt;/script&gt;", "the name, escaped")
	assert.NotContains(t, body, `href="javascript:`, "no client string becomes a javascript: URL")
}

func TestSessionPageWaterfallHasEveryRecordSpan(t *testing.T) {
	st, _ := testStore(t, 30)
	v := newViewer(t, st, "")
	page, err := st.ListSessions(context.Background(), store.ListQuery{Limit: 30})
	require.NoError(t, err)
	for _, sum := range page.Sessions[:10] {
		s, err := st.Session(context.Background(), sum.SessionID)
		require.NoError(t, err)
		body := get(v, sessionURL(sum.SessionID)).Body.String()
		var want int
		for _, tr := range s.Traces {
			want += len(tr.Record.Spans)
			for _, sp := range tr.Record.Spans {
				assert.Contains(t, body, `data-id="`+sp.ID+`"`)
			}
		}
		assert.Equal(t, want, strings.Count(body, `<g class="span`), sum.SessionID)
		assert.Equal(t, want, strings.Count(body, `<section class="detail"`), sum.SessionID)
	}
}

func TestEveryResponseCarriesTheSecurityHeaders(t *testing.T) {
	st, _ := testStore(t, 3)
	for _, token := range []string{"", "s3cret-token-for-tests"} {
		v := newViewer(t, st, token)
		for _, target := range []string{"/", "/overview", "/sessions/x", "/api/sessions", "/static/app.js", "/nope"} {
			w := get(v, target)
			h := w.Header()
			assert.Equal(t, ContentSecurityPolicy, h.Get("Content-Security-Policy"), target)
			assert.Contains(t, h.Get("Content-Security-Policy"), "script-src 'self';")
			assert.Contains(t, h.Get("Content-Security-Policy"), "frame-ancestors 'none'")
			assert.NotContains(t, h.Get("Content-Security-Policy"), "unsafe-inline")
			assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"), target)
			assert.Equal(t, "DENY", h.Get("X-Frame-Options"), target)
			assert.Equal(t, "no-referrer", h.Get("Referrer-Policy"), target)
		}
	}
}

func TestTokenIsRequiredOnEveryRequest(t *testing.T) {
	st, _ := testStore(t, 3)
	const tok = "s3cret-token-for-tests"
	v := newViewer(t, st, tok)
	for _, target := range []string{"/", "/overview", "/api/sessions", "/api/overview", "/static/app.js", "/static/style.css"} {
		assert.Equal(t, http.StatusUnauthorized, get(v, target).Code, "%s without a token", target)
		assert.Equal(t, http.StatusUnauthorized, get(v, target, TokenHeader, tok+"x").Code, "%s with a wrong token", target)
		assert.Equal(t, http.StatusUnauthorized, get(v, target, TokenHeader, tok[:5]).Code, "%s with a prefix", target)
		assert.Equal(t, http.StatusUnauthorized, get(v, target+"?token=wrong").Code, "%s with a wrong ?token", target)
		assert.Equal(t, http.StatusOK, get(v, target, TokenHeader, tok).Code, "%s with the header", target)
		assert.Equal(t, http.StatusOK, get(v, target, "Authorization", "Bearer "+tok).Code, "%s with a bearer", target)
		assert.Equal(t, http.StatusOK, get(v, target, "Cookie", TokenCookie+"="+tok).Code, "%s with the cookie", target)
	}
	// A page visited with ?token= sets the cookie and drops the token from
	// the address bar; the API answers directly.
	w := get(v, "/?state=Fail&token="+tok)
	assert.Equal(t, http.StatusSeeOther, w.Code)
	assert.Equal(t, "/?state=Fail", w.Header().Get("Location"))
	c := w.Result().Cookies()
	require.Len(t, c, 1)
	assert.Equal(t, TokenCookie, c[0].Name)
	assert.Equal(t, tok, c[0].Value)
	assert.True(t, c[0].HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, c[0].SameSite)
	assert.Equal(t, http.StatusOK, get(v, "/api/sessions?token="+tok).Code)
	w = get(v, "//evil.example/x?token="+tok)
	assert.Equal(t, "/evil.example/x", w.Header().Get("Location"), "never a redirect to another host")
}

func TestWithoutATokenOnlyLoopbackHostsAreServed(t *testing.T) {
	st, _ := testStore(t, 3)
	v := newViewer(t, st, "")
	for host, want := range map[string]int{
		"127.0.0.1:8080": http.StatusOK, "localhost:8080": http.StatusOK, "[::1]:8080": http.StatusOK, "127.0.0.2": http.StatusOK,
		"evil.example:8080": http.StatusForbidden, "10.0.0.1:8080": http.StatusForbidden, "": http.StatusForbidden,
	} {
		r := httptest.NewRequest(http.MethodGet, "/api/sessions", nil)
		r.Host = host
		w := httptest.NewRecorder()
		v.ServeHTTP(w, r)
		assert.Equal(t, want, w.Code, host)
	}
}

func TestStaticAssetsAreServedWithTheirTypes(t *testing.T) {
	st, _ := testStore(t, 1)
	v := newViewer(t, st, "")
	w := get(v, "/static/app.js")
	require.Equal(t, http.StatusOK, w.Code)
	assert.Contains(t, w.Header().Get("Content-Type"), "javascript")
	b, _ := io.ReadAll(w.Body)
	assert.NotContains(t, string(b), "innerHTML", "data goes into the page as text only")
	assert.Contains(t, get(v, "/static/style.css").Header().Get("Content-Type"), "text/css")
}
