package assembler

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/testgen"
	"github.com/crewtrace/crewtrace/record"
	"github.com/crewtrace/crewtrace/semconv"
)

// FuzzAssembler drives an Assembler with operations derived from the fuzz
// input — spans of up to 8 traces in any order, duplicates (identical or
// not), missing and cyclic parents, zero / inverted / absurd timestamps, huge
// attribute values, malformed IDs, multi-trace batches, ticks with a clock
// that jumps forwards and backwards — and checks, after every operation,
// against a model of what was accepted:
//
//   - no panic;
//   - the limits hold after every Add (MaxSessions traces, MaxSpans spans);
//   - the records of a trace come in revisions 0, 1, 2 ... with no gap and
//     no repeat, and each record's counts are self-consistent and match the
//     spans accepted (span count, LLM and tool calls, complete);
//   - no trace that has a root (or looks like a session, or with
//     IncludeRootless) is released while it holds spans no record carries;
//   - a trace with no root that does not look like a session (no session
//     ID, no agent, LLM, tool or workflow span in any convention) never gets
//     a record (unless IncludeRootless), not even when a limit pushes it
//     out; a record is complete when a crewtrace session span, or a span
//     without parent in a trace that looks like a session, was accepted;
//   - with MaxSessions at least the number of traces, a released session
//     never comes back: its later spans are counted as late;
//   - every record encodes, and the hand-written encoder equals encoding/json;
//   - Drain emits everything and leaves nothing buffered.
func FuzzAssembler(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x04\x10\x07\x20\x01\x03" + "\x00\x00\x00\x18\x01\x01\x00\x00\x00" + "\x04\x30"))
	f.Add([]byte("\x01\x05\x0b\x02\x00\x07" + "\x01\x01\x02\x00\x02\x00\x05\x03\x00\x05\x10\x06\x02\x03\x00\x07\x05\x00\x05\xff"))
	f.Add([]byte("\x00\x00\x00\x00\x01\x00" + strings.Repeat("\x06\x03\x01\x02\x03\x04\x05\x00\x04\x02", 20)))
	f.Add([]byte("\x09\x3b\x02\x05\x00\x07" + strings.Repeat("\x00\x07\x09\x04\x02\x03\x01\x02\x07\x05\x01\x04\x10", 30)))
	f.Fuzz(func(t *testing.T, data []byte) {
		runAssemblerFuzz(t, &fuzzBytes{b: data})
	})
}

// fuzzBytes reads the fuzz input; past its end it reads zeros.
type fuzzBytes struct {
	b []byte
	i int
}

func (r *fuzzBytes) byte() byte {
	if r.i >= len(r.b) {
		return 0
	}
	c := r.b[r.i]
	r.i++
	return c
}

func (r *fuzzBytes) intn(n int) int { return int(r.byte()) % n }

func (r *fuzzBytes) done() bool { return r.i >= len(r.b) }

// traceModel is what the fuzz test knows about the current incarnation of one
// trace in the assembler.
type traceModel struct {
	revNext   int  // revision the next record must carry
	unemitted int  // accepted spans no record carries yet
	spans     int  // accepted spans
	llm, tool int  // accepted LLM and tool spans
	root      bool // a crewtrace session span was accepted
	top       bool // a span without parent was accepted
	crew      bool // an accepted span looks like a session's (session ID, or a kind in any convention)
	uncertain bool // a batch made the exact counts unknown
	tomb      bool // released after a record; later spans must be late
}

// genSpan is one generated span and what the model needs to know about it.
type genSpan struct {
	trace     int
	root      bool
	top       bool
	crew      bool
	kind      uint8
	malformed bool
}

const fuzzHuge = 1 << 16

func runAssemblerFuzz(t *testing.T, in *fuzzBytes) {
	grace := time.Duration(1+in.intn(10)) * time.Second
	cfg := Config{
		GracePeriod:     grace,
		SessionTimeout:  grace + time.Duration(1+in.intn(60))*time.Second,
		MaxSessions:     1 + in.intn(12),
		MaxSpans:        2 + in.intn(64),
		IncludeRootless: in.byte()&1 == 1,
		TraceURLBase:    "http://jaeger.test/",
	}
	if in.byte()&1 == 0 {
		cfg.MaxSpans = 100_000
	}
	nTraces := 1 + in.intn(8)
	strict := nTraces <= cfg.MaxSessions // no tomb can be evicted
	a := New(cfg)
	models := make([]traceModel, nTraces)
	byTraceID := map[string]int{}
	for k := range nTraces {
		byTraceID[testgen.TraceID(k).String()] = k
	}
	now := t0
	var last ptrace.Traces // the last span sent, for exact duplicates
	var enc record.Encoder

	check := func(op string, res Result, spans []genSpan, batch bool) {
		t.Helper()
		// Acceptance first: records in res include the spans just added.
		rejected := res.DuplicateSpans + res.LateSpans + res.MalformedSpans
		if batch && (rejected > 0 || len(res.Released) > 0) {
			for _, s := range spans {
				models[s.trace].uncertain = true
			}
		} else {
			for _, s := range spans {
				if s.malformed {
					continue
				}
				m := &models[s.trace]
				if strict && m.tomb && !batch {
					if res.LateSpans != 1 {
						t.Fatalf("%s: span of released trace %d not counted late: %+v", op, s.trace, res)
					}
					continue
				}
				if rejected > 0 {
					continue // a duplicate (single span: rejected is 0 or 1)
				}
				m.spans++
				m.unemitted++
				m.root = m.root || s.root
				m.top = m.top || s.top
				m.crew = m.crew || s.crew
				switch s.kind {
				case kindLLM:
					m.llm++
				case kindTool:
					m.tool++
				}
			}
		}
		restarts := map[int]int{}
		for _, tid := range res.Released {
			restarts[byTraceID[tid.String()]]++
		}
		for i := range res.Records {
			r := &res.Records[i]
			k, ok := byTraceID[r.TraceID]
			if !ok {
				t.Fatalf("%s: record for unknown trace %q", op, r.TraceID)
			}
			m := &models[k]
			if batch && r.Revision == 0 && m.revNext > 0 && restarts[k] > 0 {
				// Flushed at a limit, released, its tomb evicted and
				// re-created by a later span of the same batch.
				restarts[k]--
				*m = traceModel{uncertain: true}
			}
			if !m.uncertain && !m.root && !m.crew && !cfg.IncludeRootless && m.revNext == 0 {
				t.Fatalf("%s: trace %d: a record (%s) for a trace with no root and no crewtrace attribute", op, k, r.FlushReason)
			}
			if r.Revision != m.revNext {
				t.Fatalf("%s: trace %d: record revision %d, want %d", op, k, r.Revision, m.revNext)
			}
			m.revNext++
			m.unemitted = 0
			checkRecordConsistent(t, op, r)
			if !m.uncertain {
				if r.SpanCount != m.spans || r.Counts.LLMCalls != m.llm || r.Counts.ToolCalls != m.tool || r.Complete != (m.root || (m.top && m.crew)) {
					t.Fatalf("%s: trace %d: record spans=%d llm=%d tools=%d complete=%v, model %+v",
						op, k, r.SpanCount, r.Counts.LLMCalls, r.Counts.ToolCalls, r.Complete, *m)
				}
			}
			want, werr := json.Marshal(r)
			got, gerr := enc.Encode(r)
			if werr != nil || gerr != nil {
				t.Fatalf("%s: record not encodable: encoding/json: %v, encoder: %v", op, werr, gerr)
			}
			if string(got) != string(want) {
				t.Fatalf("%s: encoder differs from encoding/json:\n got %s\nwant %s", op, got, want)
			}
		}
		for _, tid := range res.Released {
			k, ok := byTraceID[tid.String()]
			if !ok {
				t.Fatalf("%s: released unknown trace %s", op, tid)
			}
			m := &models[k]
			if m.unemitted > 0 && !m.uncertain && (m.root || m.crew || cfg.IncludeRootless || m.revNext > 0) {
				t.Fatalf("%s: trace %d released with %d spans in no record: %+v", op, k, m.unemitted, *m)
			}
			models[k] = traceModel{tomb: strict && m.revNext > 0}
		}
		for _, s := range spans {
			m := &models[s.trace]
			if a.Holds(testgen.TraceID(s.trace)) && m.spans == 0 && !m.uncertain {
				m.uncertain = true // re-created within a batch after its release
			}
		}
		sessions, held := a.Buffered()
		if sessions > cfg.MaxSessions || held > cfg.MaxSpans {
			t.Fatalf("%s: limits exceeded: %d sessions (max %d), %d spans (max %d)",
				op, sessions, cfg.MaxSessions, held, cfg.MaxSpans)
		}
		certain, sum, live := true, 0, 0
		for k := range models {
			certain = certain && !models[k].uncertain
			sum += models[k].spans
			if a.Holds(testgen.TraceID(k)) {
				live++
			}
		}
		if certain && (sum != held || live != sessions) {
			t.Fatalf("%s: assembler holds %d traces / %d spans, model %d / %d", op, sessions, held, live, sum)
		}
	}

	for n := 0; !in.done() && n < 200; n++ {
		switch op := in.intn(8); op {
		case 0, 1, 2, 3:
			td, s := fuzzSpan(in, nTraces)
			last = td
			if s.malformed {
				last = ptrace.Traces{}
			}
			check(fmt.Sprintf("op %d add", n), a.Add(td, now), []genSpan{s}, false)
		case 4:
			now = now.Add(time.Duration(in.intn(4*int(grace/time.Millisecond)+1)) * time.Millisecond)
			check(fmt.Sprintf("op %d tick", n), a.Tick(now), nil, false)
		case 5: // the clock jumps: far forward, or backward
			d := time.Duration(in.intn(256)) * cfg.SessionTimeout / 16
			if in.byte()&1 == 0 {
				d = -d
			}
			now = now.Add(d)
			check(fmt.Sprintf("op %d jump %s", n, d), a.Tick(now), nil, false)
		case 6:
			td := ptrace.NewTraces()
			var spans []genSpan
			for range 2 + in.intn(4) {
				one, s := fuzzSpan(in, nTraces)
				one.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
				spans = append(spans, s)
			}
			check(fmt.Sprintf("op %d batch", n), a.Add(td, now), spans, true)
		case 7:
			if last == (ptrace.Traces{}) {
				continue
			}
			dup := ptrace.NewTraces()
			last.CopyTo(dup)
			sp := dup.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
			k := byTraceID[sp.TraceID().String()]
			res := a.Add(dup, now)
			if res.DuplicateSpans+res.LateSpans != 1 {
				// Accepted again: its trace was released (ignored, or a
				// tomb evicted) and this is a new incarnation.
				if strict && models[k].tomb {
					t.Fatalf("op %d dup: a released trace's span was accepted: %+v", n, res)
				}
				models[k].uncertain = true
			}
			check(fmt.Sprintf("op %d dup", n), res, []genSpan{{trace: k}}, true)
		}
	}

	res := a.Drain(now)
	check("drain", res, nil, false)
	if s, n := a.Buffered(); s != 0 || n != 0 {
		t.Fatalf("after Drain: %d sessions, %d spans buffered", s, n)
	}
	if res := a.Tick(now.Add(24 * time.Hour)); len(res.Records) != 0 {
		t.Fatalf("after Drain: Tick emitted %d records", len(res.Records))
	}
}

// fuzzSpan builds one span from the input.
func fuzzSpan(in *fuzzBytes, nTraces int) (ptrace.Traces, genSpan) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "fuzz")
	rs.Resource().Attributes().PutDouble("fuzz.double", fuzzDouble(in.byte()))
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()

	g := genSpan{trace: in.intn(nTraces)}
	j := in.intn(24)
	flags := in.byte()
	sp.SetTraceID(testgen.TraceID(g.trace))
	sp.SetSpanID(testgen.SpanID(g.trace, j))
	if flags&0x80 != 0 && flags&0x40 != 0 { // malformed: no trace or span ID
		g.malformed = true
		if flags&1 == 0 {
			sp.SetTraceID(pcommon.TraceID{})
		} else {
			sp.SetSpanID(pcommon.SpanID{})
		}
	}
	if p := in.intn(26); p < 24 {
		sp.SetParentSpanID(testgen.SpanID(g.trace, p)) // may be itself, missing or a cycle
	} else if p == 24 {
		sp.SetParentSpanID(testgen.SpanID(nTraces+1, 0)) // from no trace held
	} else {
		g.top = true
	}

	attrs := sp.Attributes()
	kind := fuzzKinds[in.intn(len(fuzzKinds))]
	if kind.key != "" {
		attrs.PutStr(string(kind.key), kind.value)
	}
	g.kind = kind.kind
	g.root = g.kind == kindSession
	g.crew = g.kind != kindOther
	if flags&2 != 0 {
		attrs.PutStr(string(semconv.SessionIDKey), testgen.SessionID(g.trace))
		g.crew = true
	}
	huge := ""
	if flags&0x24 == 0x24 && g.trace == 0 {
		huge = strings.Repeat("x\u00e9\"<", fuzzHuge/4)
	}
	sp.SetName("span")
	switch g.kind {
	case kindSession:
		attrs.PutStr(string(semconv.SessionNameKey), "fuzz"+huge)
		attrs.PutStr(string(semconv.SessionEndStateKey), []string{"", semconv.EndStateSuccess, semconv.EndStateFail, "Weird"}[in.intn(4)])
		tags := attrs.PutEmptySlice(string(semconv.SessionTagsKey))
		for range in.intn(4) {
			tags.AppendEmpty().SetStr("t")
		}
	case kindAgent:
		attrs.PutStr(string(semconv.AgentIDKey), testgen.AgentID(g.trace, in.intn(3)))
		attrs.PutStr(string(semconv.AgentNameKey), "agent")
	case kindLLM:
		attrs.PutInt(string(semconv.InputTokensKey), int64(in.byte())<<int(in.intn(64)))
		attrs.PutDouble(string(semconv.OutputTokensKey), float64(in.byte())*1e17)
	}
	if flags&8 != 0 {
		sp.Status().SetCode(ptrace.StatusCodeError)
	}

	base := uint64(testgen.Base.UnixNano()) + uint64(j)*uint64(10*time.Millisecond)
	start, end := base, base+uint64(in.intn(200))*uint64(time.Millisecond)
	switch in.intn(6) {
	case 1:
		start, end = 0, 0
	case 2:
		start, end = end, start // end before start
	case 3:
		end = ^uint64(0) // beyond any sane year
	case 4:
		start, end = ^uint64(0)-1, ^uint64(0)
	}
	sp.SetStartTimestamp(pcommon.Timestamp(start))
	sp.SetEndTimestamp(pcommon.Timestamp(end))

	for e := range in.intn(3) {
		ev := sp.Events().AppendEmpty()
		ev.SetName(fmt.Sprintf("ev%d", e))
		ev.SetTimestamp(pcommon.Timestamp(start + uint64(in.intn(256))<<uint(in.intn(64))))
		ea := ev.Attributes()
		if ek := in.intn(5); ek < 4 {
			ea.PutStr(string(semconv.EventKindKey), []string{semconv.EventKindEvent, semconv.EventKindAction, semconv.EventKindError, "other"}[ek])
		}
		ea.PutStr(string(semconv.EventTypeKey), "type")
		ea.PutStr(semconv.EventParamPrefix+"s", huge)
		ea.PutInt(semconv.EventParamPrefix+"i", int64(in.byte())-128)
		ea.PutDouble(semconv.EventParamPrefix+"f", fuzzDouble(in.byte()))
		ea.PutBool(semconv.EventParamPrefix+"b", flags&16 != 0)
		ea.PutEmptyBytes(semconv.EventParamPrefix + "raw").FromRaw([]byte{in.byte(), 0xff, 0})
		m := ea.PutEmptyMap(semconv.EventParamPrefix + "m")
		m.PutStr("k\x00\u2028", "v")
		m.PutEmptySlice("l").AppendEmpty().SetDouble(fuzzDouble(in.byte()))
	}
	return td, g
}

// checkRecordConsistent checks the counts of a record against each other.
func checkRecordConsistent(t *testing.T, op string, r *record.Record) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Fatalf("%s: record %s rev %d: %s", op, r.TraceID, r.Revision, fmt.Sprintf(format, args...))
	}
	if r.SpanCount < 1 {
		fail("span_count %d", r.SpanCount)
	}
	if r.Counts.Agents != len(r.Agents) {
		fail("counts.agents %d, %d agents", r.Counts.Agents, len(r.Agents))
	}
	if r.Tokens.Total != r.Tokens.Input+r.Tokens.Output {
		fail("tokens %+v", r.Tokens)
	}
	var spans, llm, tools, errs int
	for _, ag := range r.Agents {
		spans += ag.SpanCount
		llm += ag.LLMCalls
		tools += ag.ToolCalls
		errs += ag.Errors
		if ag.Tokens.Total != ag.Tokens.Input+ag.Tokens.Output {
			fail("agent tokens %+v", ag.Tokens)
		}
	}
	if spans > r.SpanCount || llm > r.Counts.LLMCalls || tools > r.Counts.ToolCalls || errs > r.Counts.Errors {
		fail("agents sum to more than the session: spans %d llm %d tools %d errors %d", spans, llm, tools, errs)
	}
	if r.Counts.LLMCalls+r.Counts.ToolCalls > r.SpanCount {
		fail("more calls than spans")
	}
	kinds := map[string]int{}
	for _, ev := range r.Events {
		kinds[ev.Kind]++
	}
	if r.Counts.Events != kinds[semconv.EventKindEvent] || r.Counts.Actions != kinds[semconv.EventKindAction] {
		fail("counts.events %d, counts.actions %d: events by kind %v", r.Counts.Events, r.Counts.Actions, kinds)
	}
	if errEvents := kinds[semconv.EventKindError]; r.Counts.Errors < errEvents || r.Counts.Errors > errEvents+r.SpanCount {
		fail("counts.errors %d with %d error events and %d spans", r.Counts.Errors, errEvents, r.SpanCount)
	}
	if r.DurationMs < 0 || (!r.StartTime.IsZero() && r.EndTime.Before(r.StartTime)) {
		fail("times %s .. %s, %v ms", r.StartTime, r.EndTime, r.DurationMs)
	}
	if r.FlushReason == record.FlushGracePeriod && !r.Complete {
		fail("flushed after the grace period without a root")
	}
	if !r.Complete && r.EndState != semconv.EndStateIndeterminate {
		fail("no root but end_state %q", r.EndState)
	}
	if r.TraceURL != "http://jaeger.test/trace/"+r.TraceID {
		fail("trace_url %q", r.TraceURL)
	}
	for i := 1; i < len(r.Events); i++ {
		if r.Events[i].Time.Before(r.Events[i-1].Time) {
			fail("events out of time order")
		}
	}
}

// fuzzDouble is a double from one fuzz byte, NaN and ±Inf included: legal in
// OTLP, and a record must still be written for the session.
func fuzzDouble(b byte) float64 {
	switch b % 8 {
	case 0:
		return math.NaN()
	case 1:
		return math.Inf(1)
	case 2:
		return math.Inf(-1)
	}
	return float64(b) / 3
}

// fuzzKinds are the kinds a fuzzed span can have, in crewtrace's and the
// other conventions' keys, with the kind the assembler must give it.
var fuzzKinds = []struct {
	key   attribute.Key
	value string
	kind  uint8
}{
	{"", "", kindOther},
	{semconv.SpanKindKey, semconv.SpanKindSession, kindSession},
	{semconv.SpanKindKey, semconv.SpanKindAgent, kindAgent},
	{semconv.SpanKindKey, semconv.SpanKindLLM, kindLLM},
	{semconv.SpanKindKey, semconv.SpanKindTool, kindTool},
	{semconv.SpanKindKey, "bogus", kindOther},
	{semconv.OperationNameKey, semconv.OperationInvokeWorkflow, kindWorkflow},
	{semconv.OperationNameKey, semconv.OperationChat, kindLLM},
	{semconv.OpenInferenceSpanKindKey, semconv.OpenInferenceKindAgent, kindAgent},
	{semconv.OpenInferenceSpanKindKey, semconv.OpenInferenceKindChain, kindOther},
	{semconv.TraceloopSpanKindKey, semconv.TraceloopKindTool, kindTool},
	{semconv.LangfuseObservationTypeKey, semconv.LangfuseTypeGeneration, kindLLM},
	{semconv.VercelOperationIDKey, semconv.VercelOperationToolCall, kindTool},
}
