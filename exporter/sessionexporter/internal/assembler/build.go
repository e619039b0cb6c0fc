package assembler

import (
	"cmp"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/crewtrace/crewtrace/record"
	"github.com/crewtrace/crewtrace/semconv"
)

// noAgent marks a span attributed to no agent; unresolved marks one not yet looked up.
const (
	noAgent    = -1
	unresolved = -2
)

// build renders the session's current state as its next revision. It reads
// top-down, one step per part of the record:
//
//	header        identity, name, end state, resource, trace URL
//	assignAgents  which agent each span belongs to; the agents list
//	count         span kinds, tokens, errors and times, per session and per agent
//	convertEvents the session events, attributed to their agents, in time order
func (a *Assembler) build(ss *session, reason string, now int64) record.Record {
	r := a.header(ss, reason, now)
	ss.revision++
	var agentOf []int
	r.Agents, agentOf = ss.assignAgents()
	ss.count(&r, agentOf)
	r.Events = ss.convertEvents(r.Agents, agentOf)
	return r
}

// header fills what identifies the record and what the session root says.
func (a *Assembler) header(ss *session, reason string, now int64) record.Record {
	r := record.Record{
		SchemaVersion: record.SchemaVersion,
		SessionID:     ss.sessionIDOf(),
		Revision:      ss.revision,
		TraceID:       ss.traceID.String(),
		Tags:          []string{},
		Complete:      ss.root != nil,
		FlushReason:   reason,
		EmittedAt:     unixTime(now),
		Resource:      ss.resource,
		SpanCount:     len(ss.spans),
	}
	if r.Resource == nil {
		r.Resource = map[string]any{}
	}
	if a.cfg.TraceURLBase != "" {
		r.TraceURL = strings.TrimRight(a.cfg.TraceURLBase, "/") + "/trace/" + r.TraceID
	}
	if ss.cutValues > 0 || ss.cutEvents > 0 {
		r.Truncated = &record.Truncated{Values: ss.cutValues, Events: ss.cutEvents}
	}
	rt := ss.root
	if rt == nil {
		r.EndState, r.EndReason = semconv.EndStateIndeterminate, endStateUnknown
		return r
	}
	r.Name = rt.name
	if rt.tags != nil {
		r.Tags = rt.tags
	}
	r.EndState, r.EndReason = rt.endState, rt.endReason
	if r.EndState == "" {
		r.EndState = semconv.EndStateIndeterminate
		if ss.spans[ss.rootIdx].statusErr {
			r.EndState = semconv.EndStateFail
		}
	}
	return r
}

// assignAgents returns the session's agents in order of first start — one
// entry per agent ID (per name for agents without an ID), however often it
// was invoked — and, per span, the index in that list of the agent the span
// belongs to (noAgent for none).
func (ss *session) assignAgents() ([]record.Agent, []int) {
	agents := []record.Agent{}
	agentSpan := ss.attributeAgents() // span -> its agent span, or noAgent
	order := make([]int, 0, 8)
	for i := range ss.spans {
		if ss.spans[i].kind == kindAgent {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(x, y int) int { return cmp.Compare(ss.spans[x].start, ss.spans[y].start) })
	entry := make([]int32, len(ss.spans)) // agent span -> index in agents
	for _, i := range order {
		sp := &ss.spans[i]
		k := slices.IndexFunc(agents, func(ag record.Agent) bool {
			if sp.agentID != "" {
				return ag.ID == sp.agentID
			}
			return ag.ID == "" && ag.Name == sp.agentName
		})
		if k < 0 {
			k = len(agents)
			agents = append(agents, record.Agent{ID: sp.agentID, Name: sp.agentName})
		}
		entry[i] = int32(k)
	}
	for i, as := range agentSpan {
		if as != noAgent {
			agentSpan[i] = int(entry[as])
		}
	}
	return agents, agentSpan
}

// count fills the span, token and error counts of r and of its agents, and
// the session's times. Token sums saturate at math.MaxInt64. An error is an error event, or a span (other than the
// root) with status Error that carries no error event.
func (ss *session) count(r *record.Record, agentOf []int) {
	var minStart, maxEnd int64
	for i := range ss.spans {
		sp := &ss.spans[i]
		if !sp.badTime {
			if minStart == 0 || sp.start < minStart {
				minStart = sp.start
			}
			maxEnd = max(maxEnd, sp.end)
		}
		var ag *record.Agent
		if agentOf[i] != noAgent {
			ag = &r.Agents[agentOf[i]]
			ag.SpanCount++
		}
		switch sp.kind {
		case kindLLM:
			r.Counts.LLMCalls++
			r.Tokens.Input = addTokens(r.Tokens.Input, sp.inTokens)
			r.Tokens.Output = addTokens(r.Tokens.Output, sp.outTokens)
			if ag != nil {
				ag.LLMCalls++
				ag.Tokens.Input = addTokens(ag.Tokens.Input, sp.inTokens)
				ag.Tokens.Output = addTokens(ag.Tokens.Output, sp.outTokens)
			}
		case kindTool:
			r.Counts.ToolCalls++
			if ag != nil {
				ag.ToolCalls++
			}
		}
		errs := 0
		for j := range sp.events {
			switch sp.events[j].kind {
			case semconv.EventKindEvent:
				r.Counts.Events++
			case semconv.EventKindAction:
				r.Counts.Actions++
			case semconv.EventKindError:
				errs++
			}
		}
		if errs == 0 && sp.statusErr && i != ss.rootIdx {
			errs = 1
		}
		r.Counts.Errors += errs
		if ag != nil {
			ag.Errors += errs
		}
	}
	for i := range r.Agents {
		r.Agents[i].Tokens.Total = addTokens(r.Agents[i].Tokens.Input, r.Agents[i].Tokens.Output)
	}
	r.Counts.Agents = len(r.Agents)
	r.Tokens.Total = addTokens(r.Tokens.Input, r.Tokens.Output)
	r.StartTime, r.EndTime = unixTime(minStart), unixTime(maxEnd)
	if maxEnd > minStart {
		r.DurationMs = float64(maxEnd-minStart) / 1e6
	}
}

// convertEvents returns the session events of every span, attributed to the
// span's agent, in time order (stable: events at the same instant keep span
// order).
func (ss *session) convertEvents(agents []record.Agent, agentOf []int) []record.Event {
	n := 0
	for i := range ss.spans {
		n += len(ss.spans[i].events)
	}
	out := make([]record.Event, 0, n)
	for i := range ss.spans {
		for j := range ss.spans[i].events {
			ev := &ss.spans[i].events[j]
			e := record.Event{
				Kind: ev.kind, Type: ev.typ, Time: unixTime(ev.time), Returns: ev.returns,
				ErrorType: ev.errorType, Message: ev.message,
			}
			if len(ev.params) > 0 {
				e.Params = make(map[string]any, len(ev.params))
				for _, p := range ev.params {
					e.Params[p.name] = p.value
				}
			}
			if k := agentOf[i]; k != noAgent {
				e.AgentID, e.AgentName = agents[k].ID, agents[k].Name
			}
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(x, y record.Event) int { return x.Time.Compare(y.Time) })
	return out
}

// attributeAgents returns, per span, the index of the agent span it belongs
// to: itself for an agent span, else its nearest agent ancestor, else noAgent.
// Parent chains are followed at most len(spans) steps, so cycles in malformed
// input end.
func (ss *session) attributeAgents() []int {
	n := len(ss.spans)
	agentOf := make([]int, n)
	for i := range agentOf {
		agentOf[i] = unresolved
	}
	// Parent lookup: the session's dedup index when it has one, else a scan.
	indexOf := func(id pcommon.SpanID) (int, bool) {
		if ss.index != nil {
			i, ok := ss.index[id]
			return int(i), ok
		}
		for i := range ss.spans {
			if ss.spans[i].id == id {
				return i, true
			}
		}
		return 0, false
	}
	path := make([]int, 0, 8)
	for i := range ss.spans {
		path = path[:0]
		cur, found := i, noAgent
		for steps := 0; steps <= n; steps++ {
			if agentOf[cur] != unresolved {
				found = agentOf[cur]
				break
			}
			if ss.spans[cur].kind == kindAgent {
				found = cur
				break
			}
			path = append(path, cur)
			p, ok := indexOf(ss.spans[cur].parent)
			if !ok || ss.spans[cur].parent.IsEmpty() || p == cur {
				break
			}
			cur = p
		}
		if agentOf[cur] == unresolved && ss.spans[cur].kind == kindAgent {
			agentOf[cur] = cur
		}
		for _, j := range path {
			agentOf[j] = found
		}
		if agentOf[i] == unresolved {
			agentOf[i] = found
		}
	}
	return agentOf
}
