package assembler

import (
	"cmp"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/dialect"
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
//	count         span kinds, tokens, errors and times, per session, agent,
//	              model and tool
//	costs         the LLM calls' cost, per session, agent and model (cost.go)
//	convertEvents the session events, attributed to their agents, in time order
//	listSpans     the span list (max_record_spans), with each span's events
func (a *Assembler) build(ss *session, reason string, now int64) record.Record {
	r := a.header(ss, reason, now)
	ss.revision++
	var agentOf []int
	r.Agents, agentOf = ss.assignAgents()
	ss.count(&r, agentOf)
	a.costs(ss, &r, agentOf)
	var eventsOf [][]int
	r.Events, eventsOf = ss.convertEvents(r.Agents, agentOf, a.cfg.MaxRecordSpans > 0)
	if a.cfg.MaxRecordSpans > 0 {
		var cut int
		r.Spans, cut = ss.listSpans(&r, agentOf, eventsOf, a.cfg.MaxRecordSpans)
		if cut > 0 {
			if r.Truncated == nil {
				r.Truncated = &record.Truncated{}
			}
			r.Truncated.Spans = cut
		}
	}
	return r
}

// header fills what identifies the record and what the session root says.
func (a *Assembler) header(ss *session, reason string, now int64) record.Record {
	r := record.Record{
		SchemaVersion: record.SchemaVersion,
		SessionID:     ss.sessionIDOf(),
		Revision:      ss.revision,
		TraceID:       ss.traceID.String(),
		Source:        ss.sources.TraceSource().String(),
		Tags:          []string{},
		Complete:      ss.hasRoot(),
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
	rt, rootIdx := ss.sessionRoot()
	if rt == nil {
		r.EndState, r.EndReason = semconv.EndStateIndeterminate, endStateUnknown
		return r
	}
	r.Name = rt.name
	if rt.tags != nil {
		r.Tags = rt.tags
	}
	if rt.crewtrace {
		r.EndState, r.EndReason = rt.endState, rt.endReason
		r.EventsRefused = rt.eventsRefused
		if r.EndState == "" {
			r.EndState = semconv.EndStateIndeterminate
			if ss.spans[rootIdx].statusErr {
				r.EndState = semconv.EndStateFail
			}
		}
		return r
	}
	r.EndState, r.EndReason = ss.endState(rootIdx)
	return r
}

// endState is the end state of a session another convention wrote, which
// states none: Fail when its root span failed, else when an agent span
// failed (the first to start), with that span's error as the reason; else
// Success.
func (ss *session) endState(rootIdx int) (state, reason string) {
	failed := -1
	if ss.spans[rootIdx].statusErr {
		failed = rootIdx
	} else {
		for i := range ss.spans {
			sp := &ss.spans[i]
			if sp.kind == kindAgent && sp.statusErr && (failed < 0 || sp.start < ss.spans[failed].start) {
				failed = i
			}
		}
	}
	if failed < 0 {
		return semconv.EndStateSuccess, ""
	}
	reason = ss.messages[int32(failed)]
	switch {
	case failed != rootIdx && reason != "":
		reason = "agent " + ss.spans[failed].name + ": " + reason
	case failed != rootIdx:
		reason = "agent " + ss.spans[failed].name + " failed"
	case reason == "":
		reason = "root span failed"
	}
	return semconv.EndStateFail, reason
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
			return ag.ID == "" && ag.Name == sp.name
		})
		if k < 0 {
			k = len(agents)
			agents = append(agents, record.Agent{ID: sp.agentID, Name: sp.name})
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

// count fills the span, token and error counts of r, of its agents, models
// and tools, and the session's times. Token sums saturate at math.MaxInt64.
// An error is an error event, or a span (other than the root) with status
// Error that carries no error event.
func (ss *session) count(r *record.Record, agentOf []int) {
	var minStart, maxEnd int64
	_, rootIdx := ss.sessionRoot()
	r.Models = make([]record.Model, len(ss.models))
	for i, m := range ss.models {
		r.Models[i] = record.Model{Provider: m.provider, Model: m.name}
	}
	modelStart := make([]int64, len(ss.models)) // first start of each model's spans
	r.Tools = []record.Tool{}
	var toolStart []int64
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
		var tool *record.Tool
		switch sp.kind {
		case kindLLM:
			r.Counts.LLMCalls++
			sumTokens(&r.Tokens, &sp.tokens)
			if ag != nil {
				ag.LLMCalls++
				sumTokens(&ag.Tokens, &sp.tokens)
			}
			if sp.model >= 0 {
				m := &r.Models[sp.model]
				if m.LLMCalls == 0 || sp.start < modelStart[sp.model] {
					modelStart[sp.model] = sp.start
				}
				m.LLMCalls++
				sumTokens(&m.Tokens, &sp.tokens)
			}
		case kindTool:
			r.Counts.ToolCalls++
			if ag != nil {
				ag.ToolCalls++
			}
			k := slices.IndexFunc(r.Tools, func(t record.Tool) bool { return t.Name == sp.name })
			if k < 0 {
				k = len(r.Tools)
				r.Tools = append(r.Tools, record.Tool{Name: sp.name})
				toolStart = append(toolStart, sp.start)
			}
			toolStart[k] = min(toolStart[k], sp.start)
			tool = &r.Tools[k]
			tool.Calls++
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
		if errs == 0 && sp.statusErr && i != rootIdx {
			errs = 1
		}
		r.Counts.Errors += errs
		if ag != nil {
			ag.Errors += errs
		}
		if tool != nil {
			tool.Errors += errs
		}
	}
	for i := range r.Models {
		r.Models[i].Tokens.Total = addTokens(r.Models[i].Tokens.Input, r.Models[i].Tokens.Output)
	}
	// Models and tools in order of first start, as agents: the same spans
	// give the same record in any order of arrival.
	r.Models = sortByStart(r.Models, modelStart, func(x, y record.Model) int {
		return cmp.Or(cmp.Compare(x.Provider, y.Provider), cmp.Compare(x.Model, y.Model))
	})
	r.Tools = sortByStart(r.Tools, toolStart, func(x, y record.Tool) int { return cmp.Compare(x.Name, y.Name) })
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
// order), and, when withIndex, per span the indices of its events in that
// order.
func (ss *session) convertEvents(agents []record.Agent, agentOf []int, withIndex bool) ([]record.Event, [][]int) {
	type ref struct{ span, ev int32 }
	n := 0
	for i := range ss.spans {
		n += len(ss.spans[i].events)
	}
	refs := make([]ref, 0, n)
	for i := range ss.spans {
		for j := range ss.spans[i].events {
			refs = append(refs, ref{int32(i), int32(j)})
		}
	}
	slices.SortStableFunc(refs, func(x, y ref) int {
		return cmp.Compare(ss.spans[x.span].events[x.ev].time, ss.spans[y.span].events[y.ev].time)
	})
	out := make([]record.Event, len(refs))
	var eventsOf [][]int
	if withIndex && n > 0 {
		eventsOf = make([][]int, len(ss.spans))
	}
	for k, rf := range refs {
		ev := &ss.spans[rf.span].events[rf.ev]
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
		if a := agentOf[rf.span]; a != noAgent {
			e.AgentID, e.AgentName = agents[a].ID, agents[a].Name
		}
		out[k] = e
		if eventsOf != nil {
			eventsOf[rf.span] = append(eventsOf[rf.span], k)
		}
	}
	return out, eventsOf
}

// spanKinds names the span kinds in the record's span list.
var spanKinds = [...]string{
	kindOther: record.SpanOther, kindSession: record.SpanSession, kindAgent: record.SpanAgent,
	kindLLM: record.SpanLLM, kindTool: record.SpanTool, kindWorkflow: record.SpanWorkflow,
}

// listRank orders the spans kept when a session has more than
// max_record_spans: the root first, then agents, then LLM and tool calls,
// then the rest — the spans a waterfall cannot do without.
func (ss *session) listRank(i, rootIdx int) int {
	switch ss.spans[i].kind {
	case kindSession:
		return 0
	case kindAgent:
		return 1
	case kindLLM, kindTool:
		return 2
	}
	if i == rootIdx {
		return 0
	}
	return 3
}

// listSpans returns the record's span list — at most limit spans, in order
// of start (then span ID, so any order of arrival gives the same list) —
// and how many spans it left out. Times are offsets from r.StartTime.
func (ss *session) listSpans(r *record.Record, agentOf []int, eventsOf [][]int, limit int) ([]record.Span, int) {
	order := make([]int, len(ss.spans))
	for i := range order {
		order[i] = i
	}
	byStart := func(x, y int) int {
		a, b := &ss.spans[x], &ss.spans[y]
		return cmp.Or(cmp.Compare(a.start, b.start), slices.Compare(a.id[:], b.id[:]))
	}
	cut := 0
	if len(order) > limit {
		_, rootIdx := ss.sessionRoot()
		slices.SortFunc(order, func(x, y int) int {
			return cmp.Or(cmp.Compare(ss.listRank(x, rootIdx), ss.listRank(y, rootIdx)), byStart(x, y))
		})
		cut = len(order) - limit
		order = order[:limit]
	}
	slices.SortFunc(order, byStart)
	base := r.StartTime.UnixNano()
	out := make([]record.Span, len(order))
	for k, i := range order {
		sp := &ss.spans[i]
		s := record.Span{
			ID: sp.id.String(), Kind: spanKinds[sp.kind], Name: sp.spanName,
			Error: sp.statusErr, Agent: agentOf[i],
		}
		if !sp.parent.IsEmpty() {
			s.ParentID = sp.parent.String()
		}
		if !sp.badTime {
			s.StartUs, s.DurationUs = (sp.start-base)/1e3, (sp.end-sp.start)/1e3
		}
		if sp.statusErr {
			s.Message = ss.messages[int32(i)]
		}
		switch sp.kind {
		case kindLLM:
			t := record.Tokens{Input: sp.tokens.Input, Output: sp.tokens.Output, Total: addTokens(sp.tokens.Input, sp.tokens.Output),
				CacheRead: sp.tokens.CacheRead, CacheWrite: sp.tokens.CacheWrite, Reasoning: sp.tokens.Reasoning}
			s.Tokens = &t
			if sp.model >= 0 {
				s.Model = ss.models[sp.model].name
			}
		case kindTool:
			s.Tool = sp.name
		}
		if eventsOf != nil {
			s.Events = eventsOf[i]
		}
		out[k] = s
	}
	return out, cut
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

// sumTokens adds a span's token usage to a total, saturating (addTokens).
func sumTokens(t *record.Tokens, u *dialect.Tokens) {
	t.Input = addTokens(t.Input, u.Input)
	t.Output = addTokens(t.Output, u.Output)
	t.CacheRead = addTokens(t.CacheRead, u.CacheRead)
	t.CacheWrite = addTokens(t.CacheWrite, u.CacheWrite)
	t.Reasoning = addTokens(t.Reasoning, u.Reasoning)
	t.CacheWrite1h = addTokens(t.CacheWrite1h, u.CacheWrite1h)
}

// sortByStart orders items by their first start, ties by tie.
func sortByStart[T any](items []T, start []int64, tie func(x, y T) int) []T {
	if len(items) < 2 {
		return items
	}
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(x, y int) int {
		return cmp.Or(cmp.Compare(start[x], start[y]), tie(items[x], items[y]))
	})
	out := make([]T, len(items))
	for i, k := range order {
		out[i] = items[k]
	}
	return out
}
