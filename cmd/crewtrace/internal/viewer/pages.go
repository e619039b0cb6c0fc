package viewer

import (
	"bytes"
	"fmt"
	"html/template"
	"log"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

var funcs = template.FuncMap{
	"time":     fmtTime,
	"duration": fmtDuration,
	"join":     strings.Join,
	"pct":      func(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) },
	"short":    func(s string) string { return cut(s, 80) },
	"lower":    strings.ToLower,
}

// parseTemplates parses each page with the shared layout.
func parseTemplates() (map[string]*template.Template, error) {
	pages := map[string]*template.Template{}
	for _, p := range []string{"sessions", "overview", "session", "error"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("viewer: template %s: %w", p, err)
		}
		pages[p] = t
	}
	return pages, nil
}

// render executes a page into a buffer first, so a template error never
// leaves half a page behind a 200.
func (v *Viewer) render(w http.ResponseWriter, code int, page string, data any) {
	var buf bytes.Buffer
	if err := v.pages[page].Execute(&buf, data); err != nil {
		log.Printf("crewtrace ui: rendering %s: %v", page, err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

func (v *Viewer) errorPage(w http.ResponseWriter, err error) {
	code := statusOf(err)
	if code == http.StatusInternalServerError {
		log.Printf("crewtrace ui: %v", err)
	}
	v.render(w, code, "error", map[string]any{"Title": http.StatusText(code), "Code": code, "Message": err.Error()})
}

func sessionURL(id string) string { return "/sessions/" + url.PathEscape(id) }

func (v *Viewer) jaegerTraceURL(traceID string) string {
	if v.cfg.JaegerURL == "" || traceID == "" {
		return ""
	}
	return v.cfg.JaegerURL + "/trace/" + url.PathEscape(traceID)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

func fmtDuration(ms float64) string {
	switch {
	case ms < 1:
		return fmt.Sprintf("%.0f µs", ms*1000)
	case ms < 1000:
		return fmt.Sprintf("%.0f ms", ms)
	case ms < 60_000:
		return fmt.Sprintf("%.2f s", ms/1000)
	case ms < 3_600_000:
		return fmt.Sprintf("%.1f min", ms/60_000)
	}
	return fmt.Sprintf("%.1f h", ms/3_600_000)
}

// cut shortens s to n runes with an ellipsis: labels in tables and the
// waterfall (the full value is in the detail or the title).
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// option is a choice of a filter or sort control.
type option struct {
	Value, Label string
	Selected     bool
}

// listView is the sessions page.
type listView struct {
	Title    string
	P        listParams
	States   []option
	Sorts    []option
	Orders   []option
	Rows     []SessionJSON
	NextURL  string
	FirstURL string
	// PollURL is the API query the page polls for new sessions; "" when
	// the page is not the newest-first first page.
	PollURL string
	PollMs  int64
}

func (v *Viewer) sessionsPage(w http.ResponseWriter, r *http.Request) {
	p, q, err := parseList(r.URL.Query())
	if err != nil {
		v.errorPage(w, err)
		return
	}
	page, err := v.cfg.Store.ListSessions(r.Context(), q)
	if err != nil {
		v.errorPage(w, err)
		return
	}
	lv := listView{Title: "Sessions", P: p, PollMs: v.cfg.PollInterval.Milliseconds()}
	for _, s := range EndStates {
		sel := false
		for _, h := range p.States {
			sel = sel || h == s
		}
		lv.States = append(lv.States, option{Value: s, Label: s, Selected: sel})
	}
	for _, s := range []string{"start", "duration", "tokens", "errors"} {
		lv.Sorts = append(lv.Sorts, option{Value: s, Label: s, Selected: s == p.Sort})
	}
	lv.Orders = []option{{"desc", "newest / largest first", p.Order == "desc"}, {"asc", "oldest / smallest first", p.Order == "asc"}}
	for _, s := range page.Sessions {
		lv.Rows = append(lv.Rows, sessionJSON(s))
	}
	if page.Next != "" {
		lv.NextURL = "/?" + p.values(page.Next).Encode()
	}
	if p.After != "" {
		lv.FirstURL = "/?" + p.values("").Encode()
	} else if p.Sort == "start" && p.Order == "desc" {
		lv.PollURL = "/api/sessions?" + p.values("").Encode()
	}
	v.render(w, http.StatusOK, "sessions", lv)
}

func (v *Viewer) sessionPage(w http.ResponseWriter, r *http.Request) {
	s, err := v.cfg.Store.Session(r.Context(), r.PathValue("id"))
	if err != nil {
		v.errorPage(w, err)
		return
	}
	v.render(w, http.StatusOK, "session", v.sessionView(s))
}

func (v *Viewer) overviewPage(w http.ResponseWriter, r *http.Request) {
	rng, q, err := parseOverview(r.URL.Query(), v.cfg.Now())
	if err != nil {
		v.errorPage(w, err)
		return
	}
	o, err := v.cfg.Store.Overview(r.Context(), q)
	if err != nil {
		v.errorPage(w, err)
		return
	}
	v.render(w, http.StatusOK, "overview", newOverviewView(o, rng))
}
