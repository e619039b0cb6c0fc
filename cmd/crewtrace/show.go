package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/crewtrace/crewtrace/record"
	"github.com/crewtrace/crewtrace/store"
)

// spanEntry is one entry of a record's compact span list (`spans`), read
// from the record's JSON so that a record without the list (an older
// exporter) and one with it are both shown.
type spanEntry struct {
	ID         string         `json:"id"`
	ParentID   string         `json:"parent_id"`
	Kind       string         `json:"kind"`
	Name       string         `json:"name"`
	StartUs    int64          `json:"start_us"`
	DurationUs int64          `json:"duration_us"`
	Error      bool           `json:"error"`
	Message    string         `json:"message"`
	Agent      *int           `json:"agent"`
	Model      string         `json:"model"`
	Tokens     *record.Tokens `json:"tokens"`
	Tool       string         `json:"tool"`
	Events     []int          `json:"events"`
}

type spanList struct {
	Spans     []spanEntry `json:"spans"`
	Truncated *struct {
		Spans int `json:"spans"`
	} `json:"truncated"`
}

// printSession prints one session: header, the one-line summary, agents,
// events and a waterfall per trace.
func printSession(w io.Writer, s *store.Session) {
	fmt.Fprintf(w, "Session  %s\n", clean(s.Name))
	fmt.Fprintf(w, "ID       %s\n", clean(s.SessionID))
	state := stateText(s.EndState, s.Complete)
	if s.EndReason != "" {
		state += " — " + text(s.EndReason, 200)
	}
	fmt.Fprintf(w, "State    %s\n", state)
	fmt.Fprintf(w, "Started  %s", s.Start.Local().Format("2006-01-02 15:04:05.000 MST"))
	if s.Service != "" {
		fmt.Fprintf(w, "   service %s", text(s.Service, 80))
	}
	if len(s.Tags) > 0 {
		tags := make([]string, len(s.Tags))
		for i, t := range s.Tags {
			tags[i] = text(t, 40)
		}
		fmt.Fprintf(w, "   tags %s", strings.Join(tags, ", "))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Traces   %d\n", len(s.Traces))
	for _, t := range s.Traces {
		if t.Record.TraceURL != "" {
			fmt.Fprintf(w, "         %s\n", clean(t.Record.TraceURL))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, summaryLine(s.Summary))
	if s.EventsRefused > 0 {
		rate := float64(s.EventsRecorded) / float64(s.EventsRecorded+s.EventsRefused) * 100
		fmt.Fprintf(w, "events: %d recorded, %d refused by the library (%.1f%% recorded)\n", s.EventsRecorded, s.EventsRefused, rate)
	}

	fmt.Fprintln(w, "\nAGENTS")
	if len(s.Agents) == 0 {
		fmt.Fprintln(w, "  (none)")
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  NAME\tID\tSPANS\tLLM\tTOOLS\tERRORS\tTOKENS IN/OUT")
		for _, a := range s.Agents {
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%d\t%d/%d\n", text(a.Name, 32), text(a.ID, 40),
				a.Spans, a.LLMCalls, a.ToolCalls, a.Errors, a.Tokens.Input, a.Tokens.Output)
		}
		tw.Flush()
	}

	fmt.Fprintln(w, "\nEVENTS")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	n := 0
	for _, t := range s.Traces {
		for _, e := range t.Record.Events {
			if n == 0 {
				fmt.Fprintln(tw, "  AT\tKIND\tTYPE\tAGENT\tDETAIL")
			}
			n++
			fmt.Fprintf(tw, "  +%s\t%s\t%s\t%s\t%s\n", offset(e.Time.Sub(s.Start)), text(e.Kind, 10),
				text(e.Type, 32), text(e.AgentName, 24), eventDetail(e))
		}
	}
	tw.Flush()
	if n == 0 {
		fmt.Fprintln(w, "  (none)")
	}

	for _, t := range s.Traces {
		fmt.Fprintf(w, "\nWATERFALL  trace %s\n", text(t.Record.TraceID, 64))
		var sl spanList
		if err := json.Unmarshal(t.JSON, &sl); err != nil || len(sl.Spans) == 0 {
			printCallsWithoutSpans(w, t.Record)
			continue
		}
		printWaterfall(w, t.Record, sl)
	}
}

// summaryLine is AgentOps' end-of-session line: duration | LLM calls |
// tools | actions | errors | tokens.
func summaryLine(s store.Summary) string {
	return fmt.Sprintf("%s | %d LLM calls | %d tools | %d actions | %d errors | %d tokens (%d in, %d out)",
		duration(s.DurationMs), s.LLMCalls, s.ToolCalls, s.Actions, s.Errors,
		s.Tokens.Total, s.Tokens.Input, s.Tokens.Output)
}

func offset(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return duration(float64(d) / float64(time.Millisecond))
}

func eventDetail(e record.Event) string {
	var parts []string
	if e.ErrorType != "" || e.Message != "" {
		parts = append(parts, text(e.ErrorType, 40)+": "+text(e.Message, 120))
	}
	if e.Returns != "" {
		parts = append(parts, "returns "+text(e.Returns, 80))
	}
	if len(e.Params) > 0 {
		keys := make([]string, 0, len(e.Params))
		for k := range e.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var ps []string
		for _, k := range keys {
			ps = append(ps, text(k, 32)+"="+text(fmt.Sprint(e.Params[k]), 40))
		}
		parts = append(parts, strings.Join(ps, " "))
	}
	return strings.Join(parts, "; ")
}

// printCallsWithoutSpans shows what a record without a span list holds:
// the calls per model and per tool.
func printCallsWithoutSpans(w io.Writer, r record.Record) {
	fmt.Fprintln(w, "  (this record has no span list: the exporter that wrote it lists no spans; its calls:)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, m := range r.Models {
		fmt.Fprintf(tw, "  llm\t%s\t%s\t%d calls\t%d/%d tokens\n", text(m.Provider, 24), text(m.Model, 40),
			m.LLMCalls, m.Tokens.Input, m.Tokens.Output)
	}
	for _, t := range r.Tools {
		fmt.Fprintf(tw, "  tool\t%s\t\t%d calls\t%d errors\n", text(t.Name, 40), t.Calls, t.Errors)
	}
	tw.Flush()
	if len(r.Models) == 0 && len(r.Tools) == 0 {
		fmt.Fprintf(w, "  %d spans, %d LLM calls, %d tool calls\n", r.SpanCount, r.Counts.LLMCalls, r.Counts.ToolCalls)
	}
}

// Waterfall layout: the label column and the bar, in characters.
const (
	labelWidth = 40
	barWidth   = 40
)

// printWaterfall draws the span tree: each span on a line, indented under
// its parent, with its start and duration, a bar on the trace's time axis
// with its events as ◆ on it, and its model, tokens, tool or error.
func printWaterfall(w io.Writer, r record.Record, sl spanList) {
	spans := sl.Spans
	known := make(map[string]bool, len(spans))
	for _, s := range spans {
		known[s.ID] = true
	}
	children := map[string][]int{}
	var roots []int
	var total int64 = 1
	for i, s := range spans {
		if s.ParentID != "" && known[s.ParentID] && s.ParentID != s.ID {
			children[s.ParentID] = append(children[s.ParentID], i)
		} else {
			roots = append(roots, i)
		}
		total = max(total, s.StartUs+max(s.DurationUs, 0))
	}
	byStart := func(ix []int) {
		sort.SliceStable(ix, func(a, b int) bool { return spans[ix[a]].StartUs < spans[ix[b]].StartUs })
	}
	byStart(roots)
	fmt.Fprintf(w, "  %9s %9s  %-*s  %s\n", "START", "DURATION", labelWidth, "SPAN", "|0 .. "+offset(time.Duration(total)*time.Microsecond)+"|")
	visited := make([]bool, len(spans))
	var walk func(i, depth int)
	walk = func(i, depth int) {
		if visited[i] {
			return // a cycle in client-sent parent IDs
		}
		visited[i] = true
		s := spans[i]
		mark := " "
		if s.Error {
			mark = "✗"
		}
		indent := strings.Repeat("  ", min(depth, 8))
		label := mark + " " + indent + text(s.Name, max(labelWidth-2-len(indent), 8))
		fmt.Fprintf(w, "  %9s %9s  %s  %s  %s\n",
			"+"+offset(time.Duration(s.StartUs)*time.Microsecond), offset(time.Duration(s.DurationUs)*time.Microsecond),
			pad(label, labelWidth), bar(r, s, total), spanDetail(r, s))
		kids := children[s.ID]
		byStart(kids)
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	for _, i := range roots {
		walk(i, 0)
	}
	if sl.Truncated != nil && sl.Truncated.Spans > 0 {
		fmt.Fprintf(w, "  (%d more spans not listed in the record)\n", sl.Truncated.Spans)
	}
}

// pad pads s with spaces to n runes.
func pad(s string, n int) string {
	if c := len([]rune(s)); c < n {
		return s + strings.Repeat(" ", n-c)
	}
	return s
}

// bar is the span's place on the time axis [0, total] microseconds.
func bar(r record.Record, s spanEntry, total int64) string {
	cells := []rune("|" + strings.Repeat(" ", barWidth) + "|")
	pos := func(us int64) int {
		p := int(math.Floor(float64(us) / float64(total) * barWidth))
		return min(max(p, 0), barWidth-1)
	}
	from := pos(s.StartUs)
	to := max(pos(s.StartUs+s.DurationUs), from)
	for c := from; c <= to; c++ {
		cells[c+1] = '█'
	}
	for _, ei := range s.Events {
		if ei < 0 || ei >= len(r.Events) {
			continue
		}
		cells[pos(r.Events[ei].Time.Sub(r.StartTime).Microseconds())+1] = '◆'
	}
	return string(cells)
}

func spanDetail(r record.Record, s spanEntry) string {
	var parts []string
	if s.Kind != "" && s.Kind != "other" {
		parts = append(parts, text(s.Kind, 12))
	}
	if s.Model != "" {
		parts = append(parts, text(s.Model, 40))
	}
	if s.Tokens != nil {
		parts = append(parts, fmt.Sprintf("%d/%d tokens", s.Tokens.Input, s.Tokens.Output))
	}
	if s.Tool != "" {
		parts = append(parts, "tool "+text(s.Tool, 40))
	}
	var evs []string
	for _, ei := range s.Events {
		if ei >= 0 && ei < len(r.Events) {
			evs = append(evs, text(r.Events[ei].Type, 24))
		}
	}
	if len(evs) > 0 {
		parts = append(parts, "◆ "+strings.Join(evs, ", "))
	}
	if s.Error {
		msg := "ERROR"
		if s.Message != "" {
			msg += ": " + text(s.Message, 120)
		}
		parts = append(parts, msg)
	}
	return strings.Join(parts, "  ")
}
