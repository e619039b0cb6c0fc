package viewer

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/crewtrace/crewtrace/record"
	"github.com/crewtrace/crewtrace/store"
)

// The waterfall's geometry, in SVG user units: a label column, then the
// time axis.
const (
	wfWidth  = 1000
	wfLabel  = 330
	wfBarX   = wfLabel + 10
	wfBarW   = wfWidth - wfBarX - 10
	wfRowH   = 22
	wfTop    = 24
	wfLabelN = 44 // runes of a span name shown in its label
)

// sessionView is the session (replay) page.
type sessionView struct {
	Title     string
	S         SessionJSON
	Summary   string
	EventRate string
	Agents    []AgentJSON
	Traces    []traceView
	WF        waterfall
	Events    []eventView
	// Jaeger is true when span details can ask Jaeger for all attributes.
	Jaeger bool
}

type traceView struct {
	TraceID, JaegerURL, Fragment string
	Revision                     int
	Complete                     bool
	Spans, SpansCut              int
	Source                       string
}

// waterfall is the span chart: one row per span, events as markers.
type waterfall struct {
	Height int
	Ticks  []tick
	Rows   []wfRow
}

type tick struct {
	X      float64
	Label  string
	Anchor string
}

type wfRow struct {
	// I is the row's index: the detail panel is #span-<I>.
	I       int
	ID      string
	TraceID string
	Kind    string
	Label   string
	Name    string
	Y, TY   int
	X, W    float64
	Err     bool
	Marks   []mark
	Detail  []kv
	Events  []eventView
}

type mark struct {
	X     float64
	Y     int
	Title string
	Err   bool
}

type kv struct{ K, V string }

type eventView struct {
	Offset  string
	Kind    string
	Type    string
	Agent   string
	Returns string
	Params  string
	Error   string
}

func (v *Viewer) sessionView(s *store.Session) sessionView {
	sv := sessionView{Title: "Session " + cut(s.Name, 60), S: sessionJSON(s.Summary), Jaeger: v.cfg.JaegerURL != ""}
	sv.Summary = fmt.Sprintf("%s | %d LLM calls | %d tools | %d actions | %d errors | %d tokens",
		fmtDuration(s.DurationMs), s.LLMCalls, s.ToolCalls, s.Actions, s.Errors, s.Tokens.Total)
	n := s.EventsRecorded + s.EventsRefused
	if n == 0 {
		sv.EventRate = "no events asked for"
	} else {
		sv.EventRate = fmt.Sprintf("%.1f%% (%d recorded, %d refused)", 100*float64(s.EventsRecorded)/float64(n), s.EventsRecorded, s.EventsRefused)
	}
	for _, a := range s.Agents {
		sv.Agents = append(sv.Agents, AgentJSON{ID: a.ID, Name: a.Name, Traces: a.Traces, Spans: a.Spans,
			LLMCalls: a.LLMCalls, ToolCalls: a.ToolCalls, Errors: a.Errors, Tokens: a.Tokens})
	}
	// The time axis spans every trace of the session.
	start := s.Start
	var endUs int64 = 1
	for _, t := range s.Traces {
		off := t.Record.StartTime.Sub(start).Microseconds()
		endUs = max(endUs, off+t.Record.EndTime.Sub(t.Record.StartTime).Microseconds())
		for _, sp := range t.Record.Spans {
			endUs = max(endUs, off+sp.StartUs+sp.DurationUs)
		}
	}
	x := func(us int64) float64 { return wfBarX + float64(wfBarW)*float64(us)/float64(endUs) }
	for i := range 5 {
		us := endUs * int64(i) / 4
		t := tick{X: x(us), Label: fmtDuration(float64(us) / 1000), Anchor: "middle"}
		switch i {
		case 0:
			t.Label, t.Anchor = "0", "start"
		case 4:
			t.Anchor = "end"
		}
		sv.WF.Ticks = append(sv.WF.Ticks, t)
	}
	for _, t := range s.Traces {
		rec := &t.Record
		tv := traceView{TraceID: rec.TraceID, JaegerURL: v.jaegerTraceURL(rec.TraceID), Fragment: t.Fragment,
			Revision: t.Revision, Complete: rec.Complete, Spans: rec.SpanCount, Source: rec.Source}
		if rec.Truncated != nil {
			tv.SpansCut = rec.Truncated.Spans
		}
		sv.Traces = append(sv.Traces, tv)
		off := rec.StartTime.Sub(start).Microseconds()
		for _, o := range treeOrder(rec.Spans) {
			sp := rec.Spans[o.i]
			row := wfRow{I: len(sv.WF.Rows), ID: sp.ID, TraceID: rec.TraceID, Kind: sp.Kind, Name: sp.Name, Err: sp.Error,
				Label: strings.Repeat("  ", min(o.depth, 8)) + cut(sp.Name, wfLabelN)}
			row.Y = wfTop + row.I*wfRowH
			row.TY = row.Y + 15
			row.X = x(off + sp.StartUs)
			row.W = max(x(off+sp.StartUs+sp.DurationUs)-row.X, 1.5)
			row.Detail = spanDetail(rec, sp, start)
			for _, ei := range sp.Events {
				if ei < 0 || ei >= len(rec.Events) {
					continue
				}
				ev := rec.Events[ei]
				row.Marks = append(row.Marks, mark{X: x(ev.Time.Sub(start).Microseconds()), Y: row.Y + 11, Title: ev.Kind + " " + ev.Type, Err: ev.Kind == "error"})
				row.Events = append(row.Events, eventOf(ev, start))
			}
			sv.WF.Rows = append(sv.WF.Rows, row)
		}
		for _, ev := range rec.Events {
			sv.Events = append(sv.Events, eventOf(ev, start))
		}
	}
	sv.WF.Height = wfTop + len(sv.WF.Rows)*wfRowH + 6
	return sv
}

// treeOrder lists spans depth first from their roots (spans whose parent is
// not in the list), children in start order, with each one's depth.
func treeOrder(spans []record.Span) []struct{ i, depth int } {
	ids := make(map[string]bool, len(spans))
	for _, s := range spans {
		ids[s.ID] = true
	}
	children := map[string][]int{}
	var roots []int
	for i, s := range spans {
		if s.ParentID == "" || !ids[s.ParentID] || s.ParentID == s.ID {
			roots = append(roots, i)
		} else {
			children[s.ParentID] = append(children[s.ParentID], i)
		}
	}
	out := make([]struct{ i, depth int }, 0, len(spans))
	seen := make([]bool, len(spans))
	var walk func(i, d int)
	walk = func(i, d int) {
		if seen[i] {
			return // a cycle in client-sent parent IDs
		}
		seen[i] = true
		out = append(out, struct{ i, depth int }{i, d})
		for _, c := range children[spans[i].ID] {
			walk(c, d+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	// Spans only reachable through a cycle: list them flat, so every span
	// of the record has its row.
	for i := range spans {
		if !seen[i] {
			walk(i, 0)
		}
	}
	return out
}

// spanDetail is what a click on a span shows.
func spanDetail(rec *record.Record, sp record.Span, start time.Time) []kv {
	d := []kv{{"name", sp.Name}, {"kind", sp.Kind}, {"span ID", sp.ID}}
	if sp.ParentID != "" {
		d = append(d, kv{"parent span ID", sp.ParentID})
	}
	d = append(d, kv{"trace ID", rec.TraceID},
		kv{"start", "+" + fmtDuration(float64(rec.StartTime.Sub(start).Microseconds()+sp.StartUs)/1000)},
		kv{"duration", fmtDuration(float64(sp.DurationUs) / 1000)})
	if sp.Agent >= 0 && sp.Agent < len(rec.Agents) {
		a := rec.Agents[sp.Agent]
		d = append(d, kv{"agent", a.Name + " (" + a.ID + ")"})
	}
	if sp.Model != "" {
		d = append(d, kv{"model", sp.Model})
	}
	if t := sp.Tokens; t != nil {
		d = append(d, kv{"tokens", fmt.Sprintf("%d in (%d cache read, %d cache write) · %d out (%d reasoning) · %d total",
			t.Input, t.CacheRead, t.CacheWrite, t.Output, t.Reasoning, t.Total)})
	}
	if sp.Tool != "" {
		d = append(d, kv{"tool", sp.Tool})
	}
	if sp.Error {
		d = append(d, kv{"error", nonEmpty(sp.Message, "status Error")})
	}
	return d
}

func eventOf(ev record.Event, start time.Time) eventView {
	e := eventView{Offset: "+" + fmtDuration(float64(ev.Time.Sub(start).Microseconds())/1000), Kind: ev.Kind, Type: ev.Type,
		Agent: ev.AgentName, Returns: ev.Returns}
	if len(ev.Params) > 0 {
		keys := make([]string, 0, len(ev.Params))
		for k := range ev.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(k + "=" + literal(ev.Params[k]))
		}
		e.Params = b.String()
	}
	if ev.ErrorType != "" || ev.Message != "" {
		e.Error = strings.TrimSpace(ev.ErrorType + ": " + ev.Message)
	}
	return e
}

// literal renders a param value as JSON as written: strings quoted, and
// <, > and & kept as they are (the template escapes them where shown).
func literal(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
