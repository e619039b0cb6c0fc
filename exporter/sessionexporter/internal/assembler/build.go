package assembler

import (
	"sort"
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

// build renders the session's current state as its next revision.
func (a *Assembler) build(ss *session, reason string, now int64) record.Record {
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
		Agents:        []record.Agent{},
	}
	nEvents := 0
	for i := range ss.spans {
		nEvents += len(ss.spans[i].events)
	}
	r.Events = make([]record.Event, 0, nEvents)
	ss.revision++
	if r.Resource == nil {
		r.Resource = map[string]any{}
	}
	if a.cfg.TraceURLBase != "" {
		r.TraceURL = strings.TrimRight(a.cfg.TraceURLBase, "/") + "/trace/" + r.TraceID
	}
	if rt := ss.root; rt != nil {
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
	} else {
		r.EndState, r.EndReason = semconv.EndStateIndeterminate, endStateUnknown
	}

	agentOf := ss.attributeAgents()
	agentSlot := make([]int32, len(ss.spans)) // agent span index -> index in r.Agents + 1
	slotFor := func(i int) *record.Agent {
		if i == noAgent {
			return nil
		}
		if slot := agentSlot[i]; slot > 0 {
			return &r.Agents[slot-1]
		}
		sp := &ss.spans[i]
		for slot := range r.Agents { // the same agent invoked more than once
			ag := &r.Agents[slot]
			if (sp.agentID != "" && ag.ID == sp.agentID) || (sp.agentID == "" && ag.ID == "" && ag.Name == sp.agentName) {
				agentSlot[i] = int32(slot) + 1
				return ag
			}
		}
		agentSlot[i] = int32(len(r.Agents)) + 1
		r.Agents = append(r.Agents, record.Agent{ID: sp.agentID, Name: sp.agentName})
		return &r.Agents[len(r.Agents)-1]
	}

	// Agents appear in order of first start.
	order := make([]int, 0, 8)
	for i := range ss.spans {
		if ss.spans[i].kind == kindAgent {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(x, y int) bool { return ss.spans[order[x]].start < ss.spans[order[y]].start })
	for _, i := range order {
		slotFor(i)
	}

	var minStart, maxEnd int64
	for i := range ss.spans {
		sp := &ss.spans[i]
		if !sp.badTime {
			if minStart == 0 || sp.start < minStart {
				minStart = sp.start
			}
			if sp.end > maxEnd {
				maxEnd = sp.end
			}
		}
		ag := slotFor(agentOf[i])
		if ag != nil {
			ag.SpanCount++
		}
		switch sp.kind {
		case kindLLM:
			r.Counts.LLMCalls++
			r.Tokens.Input += sp.inTokens
			r.Tokens.Output += sp.outTokens
			if ag != nil {
				ag.LLMCalls++
				ag.Tokens.Input += sp.inTokens
				ag.Tokens.Output += sp.outTokens
			}
		case kindTool:
			r.Counts.ToolCalls++
			if ag != nil {
				ag.ToolCalls++
			}
		}
		errs := 0
		for j := range sp.events {
			ev := &sp.events[j]
			switch ev.kind {
			case semconv.EventKindEvent:
				r.Counts.Events++
			case semconv.EventKindAction:
				r.Counts.Actions++
			case semconv.EventKindError:
				errs++
			}
			out := record.Event{
				Kind: ev.kind, Type: ev.typ, Time: unixTime(ev.time), Returns: ev.returns,
				ErrorType: ev.errorType, Message: ev.message,
			}
			if len(ev.params) > 0 {
				out.Params = make(map[string]any, len(ev.params))
				for _, p := range ev.params {
					out.Params[p.name] = p.value
				}
			}
			if ag != nil {
				out.AgentID, out.AgentName = ag.ID, ag.Name
			}
			r.Events = append(r.Events, out)
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
		r.Agents[i].Tokens.Total = r.Agents[i].Tokens.Input + r.Agents[i].Tokens.Output
	}
	r.Counts.Agents = len(r.Agents)
	r.Tokens.Total = r.Tokens.Input + r.Tokens.Output
	r.ErrorCount = r.Counts.Errors
	r.StartTime, r.EndTime = unixTime(minStart), unixTime(maxEnd)
	if maxEnd > minStart {
		r.DurationMs = float64(maxEnd-minStart) / 1e6
	}
	sort.SliceStable(r.Events, func(x, y int) bool { return r.Events[x].Time.Before(r.Events[y].Time) })
	return r
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
