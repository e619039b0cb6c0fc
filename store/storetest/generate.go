// Package storetest generates realistic session records for the store's
// benchmarks and for those of programs built on the store (the viewer's):
// the same sessions, from the same seed, everywhere.
package storetest

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/crewtrace/crewtrace/record"
)

// End is the end of the generated week of sessions.
var End = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// Generator makes realistic sessions: a week of them before End, 10% over
// several traces (chat turns), 1–4 agents, a mix of end states with a long
// tail of failure reasons, errors, events, tokens and each trace's span
// list. The same seed gives the same sessions.
type Generator struct {
	rnd     *rand.Rand
	names   []string
	reasons []string
	zipf    *rand.Zipf
}

// NewGenerator returns a Generator seeded with seed.
func NewGenerator(seed uint64) *Generator {
	g := &Generator{rnd: rand.New(rand.NewPCG(seed, seed))}
	for i := range 30 {
		g.names = append(g.names, fmt.Sprintf("%s-crew-%d", []string{"research", "triage", "support", "billing", "writer"}[i%5], i))
	}
	for i := range 40 {
		g.reasons = append(g.reasons, fmt.Sprintf("%s (code %d)", []string{"model quota exceeded", "tool crashed", "timeout waiting for tool", "invalid JSON from model", "context window exceeded"}[i%5], i))
	}
	g.zipf = rand.NewZipf(g.rnd, 1.3, 1, uint64(len(g.reasons)-1))
	return g
}

// Rand is the generator's source, for callers that vary what they write
// (as the store's benchmark does with events_refused).
func (g *Generator) Rand() *rand.Rand { return g.rnd }

// Session returns the records of the i-th session, one per trace.
func (g *Generator) Session(i int) []*record.Record {
	r := g.rnd
	id := fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", r.Uint32(), r.IntN(1<<16), r.IntN(1<<12), r.IntN(1<<12), r.Uint64()&(1<<48-1))
	traces := 1
	if r.IntN(10) == 0 {
		traces = 2 + r.IntN(3)
	}
	name := g.names[r.IntN(len(g.names))]
	start := End.Add(-time.Duration(r.Int64N(int64(7 * 24 * time.Hour))))
	out := make([]*record.Record, traces)
	for t := range traces {
		dur := time.Duration(500+r.ExpFloat64()*20000) * time.Millisecond
		rec := &record.Record{
			SchemaVersion: record.SchemaVersion, SessionID: id, Revision: r.IntN(2),
			TraceID: fmt.Sprintf("%016x%016x", r.Uint64(), uint64(i)*8+uint64(t)),
			Source:  "crewtrace", Name: name, Tags: []string{"env:prod", fmt.Sprintf("team-%d", r.IntN(8))},
			StartTime: start, EndTime: start.Add(dur), DurationMs: float64(dur) / 1e6,
			EndState: "Success", EndReason: "done", Complete: r.IntN(30) != 0,
			FlushReason: record.FlushGracePeriod, EmittedAt: start.Add(dur + 5*time.Second),
			Resource: map[string]any{"service.name": fmt.Sprintf("svc-%d", r.IntN(5)), "host.name": "worker-1"},
		}
		switch p := r.IntN(100); {
		case p < 15:
			rec.EndState, rec.EndReason = "Fail", g.reasons[g.zipf.Uint64()]
		case p < 22:
			rec.EndState, rec.EndReason = "Indeterminate", "process exited without ending the session"
		}
		for a := range 1 + r.IntN(4) {
			in, outT := int64(r.IntN(4000)), int64(r.IntN(800))
			ag := record.Agent{ID: fmt.Sprintf("%08x-0000-4000-8000-%012x", a, i), Name: []string{"researcher", "writer", "critic", "planner"}[a],
				SpanCount: 2 + r.IntN(6), LLMCalls: 1 + r.IntN(3), ToolCalls: r.IntN(3), Tokens: record.Tokens{Input: in, Output: outT, Total: in + outT}}
			if r.IntN(8) == 0 {
				ag.Errors = 1
			}
			rec.Agents = append(rec.Agents, ag)
			rec.SpanCount += ag.SpanCount
			rec.Counts.Agents++
			rec.Counts.LLMCalls += ag.LLMCalls
			rec.Counts.ToolCalls += ag.ToolCalls
			rec.Counts.Errors += ag.Errors
			rec.Tokens.Input += in
			rec.Tokens.Output += outT
			rec.Tokens.Total += in + outT
		}
		rec.SpanCount++
		for range r.IntN(5) {
			rec.Events = append(rec.Events, record.Event{Kind: "action", Type: "search", Time: start.Add(time.Second),
				AgentName: "researcher", Returns: "3 hits", Params: map[string]any{"q": "crew"}})
			rec.Counts.Actions++
		}
		rec.Spans = spans(rec, dur)
		out[t] = rec
		start = rec.EndTime.Add(time.Duration(r.IntN(60)) * time.Second)
	}
	return out
}

// spans lays out a record's span list as the exporter writes it: the
// session span, then per agent its span, its LLM calls (with their tokens
// shared out) and tool calls, then its other spans, one after the other
// inside the session.
func spans(rec *record.Record, dur time.Duration) []record.Span {
	total := dur.Microseconds()
	out := make([]record.Span, 0, rec.SpanCount)
	root := fmt.Sprintf("%016x", 1)
	out = append(out, record.Span{ID: root, Kind: record.SpanSession, Name: "session " + rec.Name, DurationUs: total, Agent: -1,
		Error: rec.EndState == "Fail", Message: map[bool]string{true: rec.EndReason}[rec.EndState == "Fail"]})
	for e := range rec.Events {
		out[0].Events = append(out[0].Events, e)
	}
	n := 2
	slot := total / int64(len(rec.Agents)+1)
	for a, ag := range rec.Agents {
		start := int64(a) * slot
		agentID := fmt.Sprintf("%016x", n)
		n++
		out = append(out, record.Span{ID: agentID, ParentID: root, Kind: record.SpanAgent, Name: "invoke_agent " + ag.Name,
			StartUs: start, DurationUs: slot, Agent: a, Error: ag.Errors > 0})
		calls := ag.LLMCalls + ag.ToolCalls
		step := slot / int64(max(ag.SpanCount, 1))
		for c := range ag.SpanCount - 1 {
			sp := record.Span{ID: fmt.Sprintf("%016x", n), ParentID: agentID, StartUs: start + int64(c+1)*step/2, DurationUs: step / 2, Agent: a}
			n++
			switch {
			case c < ag.LLMCalls:
				tk := record.Tokens{Input: ag.Tokens.Input / int64(ag.LLMCalls), Output: ag.Tokens.Output / int64(ag.LLMCalls)}
				tk.Total = tk.Input + tk.Output
				sp.Kind, sp.Name, sp.Model, sp.Tokens = record.SpanLLM, "chat gpt-4o", "gpt-4o", &tk
			case c < calls:
				sp.Kind, sp.Name, sp.Tool = record.SpanTool, "execute_tool search", "search"
			default:
				sp.Kind, sp.Name = record.SpanOther, "HTTP POST"
			}
			out = append(out, sp)
		}
	}
	return out
}
