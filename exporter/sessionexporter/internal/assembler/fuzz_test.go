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
// not), missing and cyclic parents, zero / inverted / absurd timestamps,
// values around and far beyond MaxValueBytes (multi-byte characters across
// the cut, NUL bytes) in every field the assembler keeps, more events than
// MaxEventsPerSpan, MaxInt64 and negative token counts, malformed IDs,
// multi-trace batches, ticks with a clock that jumps forwards and backwards
// — and checks, after every operation, against a model of what was accepted:
//
//   - no panic;
//   - the limits hold after every Add (MaxSessions traces, MaxSpans spans,
//     MaxBytes accounted bytes), and the accounted bytes equal a recount of
//     what is held;
//   - no string in a record is longer than MaxValueBytes, no span keeps more
//     than MaxEventsPerSpan events, a session whose kept events carried an
//     oversized value is marked truncated, and nothing is marked when no
//     limit is set; token counts are never negative and their sums saturate;
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
	mustCut   bool // an accepted span's session event carried an oversized value
}

// genSpan is one generated span and what the model needs to know about it.
type genSpan struct {
	trace     int
	root      bool
	top       bool
	crew      bool
	kind      uint8
	malformed bool
	cut       bool // a session event carries a value over MaxValueBytes
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
	// The span list: none, or a few spans (so that the cut is exercised),
	// from a value already read, so the committed seeds keep their meaning.
	cfg.MaxRecordSpans = int(grace/time.Second) % 4 * 3
	if in.byte()&1 == 0 {
		cfg.MaxSpans = 100_000
	}
	if lim := in.byte(); lim&1 == 0 { // else no value or event limit
		cfg.MaxValueBytes = MinValueBytes + int(lim>>1)
		cfg.MaxEventsPerSpan = 1 + int(lim>>5)
	}
	if b := in.byte(); b&1 == 0 {
		cfg.MaxBytes = 2_000 + int64(b)*400 // from a session or two up
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
				m.mustCut = m.mustCut || s.cut
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
			checkRecordBounds(t, op, r, cfg)
			if m.mustCut && !m.uncertain && r.Truncated == nil {
				t.Fatalf("%s: trace %d: a session event carried a value over %d bytes, the record is not marked truncated", op, k, cfg.MaxValueBytes)
			}
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
		if b := a.BufferedBytes(); (cfg.MaxBytes > 0 && b > cfg.MaxBytes) || b != accountedBytes(a) {
			t.Fatalf("%s: %d bytes accounted (max %d), a recount gives %d", op, b, cfg.MaxBytes, accountedBytes(a))
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
			td, s := fuzzSpan(in, nTraces, cfg.MaxValueBytes)
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
				one, s := fuzzSpan(in, nTraces, cfg.MaxValueBytes)
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
	if s, n := a.Buffered(); s != 0 || n != 0 || a.BufferedBytes() != 0 {
		t.Fatalf("after Drain: %d sessions, %d spans, %d bytes buffered", s, n, a.BufferedBytes())
	}
	if res := a.Tick(now.Add(24 * time.Hour)); len(res.Records) != 0 {
		t.Fatalf("after Drain: Tick emitted %d records", len(res.Records))
	}
}

// fuzzValue returns a client string from the input: short, with NUL bytes,
// empty, within a few bytes of maxValue on either side (multi-byte
// characters across the cut, so invalid UTF-8 too), or huge. over reports
// whether it is longer than maxValue (never, with no limit).
func fuzzValue(in *fuzzBytes, maxValue int) (v string, over bool) {
	limit := maxValue
	if limit == 0 {
		limit = 100
	}
	switch in.intn(8) {
	case 0, 1, 2:
		v = "v"
	case 3:
		v = "nul\x00in\x00the middle\x00"
	case 4:
		v = ""
	case 5:
		n := max(limit-3+in.intn(7), 0)
		v = strings.Repeat("é\x00日", n/6+1)[:n]
	case 6:
		v = strings.Repeat("日本語\x00", limit/10+1+in.intn(4))
	case 7:
		v = strings.Repeat("x\u00e9\"<\x00", fuzzHuge/6)
	}
	return v, maxValue > 0 && len(v) > maxValue
}

// fuzzSpan builds one span from the input; maxValue is the assembler's
// MaxValueBytes (0: none), which the generated values straddle.
func fuzzSpan(in *fuzzBytes, nTraces, maxValue int) (ptrace.Traces, genSpan) {
	value := func() string { v, _ := fuzzValue(in, maxValue); return v }
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "fuzz")
	rs.Resource().Attributes().PutDouble("fuzz.double", fuzzDouble(in.byte()))
	rs.Resource().Attributes().PutStr(value(), value())
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
		id := testgen.SessionID(g.trace)
		if flags&0x10 != 0 && g.trace == 1 { // one trace with an ID far beyond the limit
			id = strings.Repeat(id, fuzzHuge/len(id))
		}
		attrs.PutStr(string(semconv.SessionIDKey), id)
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
		states := []string{"", semconv.EndStateSuccess, semconv.EndStateFail, "Weird", value()}
		attrs.PutStr(string(semconv.SessionEndStateKey), states[in.intn(len(states))])
		attrs.PutStr(string(semconv.SessionEndReasonKey), value())
		tags := attrs.PutEmptySlice(string(semconv.SessionTagsKey))
		for range in.intn(4) {
			tags.AppendEmpty().SetStr(value())
		}
	case kindAgent:
		id := testgen.AgentID(g.trace, in.intn(3))
		if v, over := fuzzValue(in, maxValue); over {
			id += v // cut to a form that stays distinct
		}
		attrs.PutStr(string(semconv.AgentIDKey), id)
		attrs.PutStr(string(semconv.AgentNameKey), "agent"+value())
	case kindLLM:
		in1 := []int64{int64(in.byte()) << int(in.intn(64)), math.MaxInt64, -1, math.MinInt64}[in.intn(4)]
		attrs.PutInt(string(semconv.InputTokensKey), in1)
		attrs.PutDouble(string(semconv.OutputTokensKey), []float64{float64(in.byte()) * 1e17, -5, math.NaN(), math.Inf(1)}[in.intn(4)])
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

	for e := range in.intn(3) + in.intn(2)*in.intn(8) {
		ev := sp.Events().AppendEmpty()
		ev.SetName(fmt.Sprintf("ev%d", e))
		ev.SetTimestamp(pcommon.Timestamp(start + uint64(in.intn(256))<<uint(in.intn(64))))
		ea := ev.Attributes()
		ek := in.intn(5)
		if ek < 4 {
			ea.PutStr(string(semconv.EventKindKey), []string{semconv.EventKindEvent, semconv.EventKindAction, semconv.EventKindError, "other"}[ek])
		}
		ea.PutStr(string(semconv.EventTypeKey), "type")
		if v, over := fuzzValue(in, maxValue); v != "" {
			ea.PutStr(semconv.EventParamPrefix+"s", v)
			g.cut = g.cut || (over && ek < 4)
		} else {
			ea.PutStr(semconv.EventParamPrefix+"s", huge)
			g.cut = g.cut || (huge != "" && maxValue > 0 && ek < 4)
		}
		ea.PutStr(string(semconv.EventReturnsKey), value())
		ea.PutStr(string(semconv.ExceptionMessageKey), value())
		ea.PutStr(semconv.EventParamPrefix+value(), value())
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
	if !tokensOK(r.Tokens) {
		fail("tokens %+v", r.Tokens)
	}
	var spans, llm, tools, errs int
	for _, ag := range r.Agents {
		spans += ag.SpanCount
		llm += ag.LLMCalls
		tools += ag.ToolCalls
		errs += ag.Errors
		if !tokensOK(ag.Tokens) || ag.Tokens.Input > r.Tokens.Input || ag.Tokens.Output > r.Tokens.Output {
			fail("agent tokens %+v, session %+v", ag.Tokens, r.Tokens)
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

// tokensOK reports whether token counts are non-negative and the total is
// their saturated sum.
func tokensOK(tk record.Tokens) bool {
	want := tk.Input + tk.Output
	if tk.Input > math.MaxInt64-tk.Output {
		want = math.MaxInt64
	}
	return tk.Input >= 0 && tk.Output >= 0 && tk.Total == want
}

// checkRecordBounds checks the value and event limits on a record: no string
// longer than MaxValueBytes (an ID cut keeps its length within it too), no
// more than MaxEventsPerSpan events per span, and no truncated marker
// without a limit.
func checkRecordBounds(t *testing.T, op string, r *record.Record, cfg Config) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Fatalf("%s: record %s rev %d: %s", op, r.TraceID, r.Revision, fmt.Sprintf(format, args...))
	}
	checkSpanList(t, op, r, cfg)
	if cfg.MaxValueBytes == 0 && cfg.MaxEventsPerSpan == 0 {
		if r.Truncated != nil && (r.Truncated.Values != 0 || r.Truncated.Events != 0) {
			fail("truncated %+v without limits", *r.Truncated)
		}
		return
	}
	if tr := r.Truncated; tr != nil && (tr.Values < 0 || tr.Events < 0 || tr.Values+tr.Events+tr.Spans == 0) {
		fail("truncated %+v", *tr)
	}
	if n := cfg.MaxEventsPerSpan * r.SpanCount; cfg.MaxEventsPerSpan > 0 && len(r.Events) > n {
		fail("%d events in %d spans, at most %d per span", len(r.Events), r.SpanCount, cfg.MaxEventsPerSpan)
	}
	var walk func(where string, v any)
	str := func(where, s string) {
		if cfg.MaxValueBytes > 0 && len(s) > cfg.MaxValueBytes {
			fail("%s: %d bytes, more than max %d", where, len(s), cfg.MaxValueBytes)
		}
	}
	walk = func(where string, v any) {
		switch x := v.(type) {
		case string:
			str(where, x)
		case []byte:
			if cfg.MaxValueBytes > 0 && len(x) > cfg.MaxValueBytes {
				fail("%s: %d bytes, more than max %d", where, len(x), cfg.MaxValueBytes)
			}
		case []any:
			for _, e := range x {
				walk(where, e)
			}
		case map[string]any:
			for k, e := range x {
				str(where+" key", k)
				walk(where+"."+k, e)
			}
		}
	}
	str("session_id", r.SessionID)
	str("name", r.Name)
	str("end_state", r.EndState)
	str("end_reason", r.EndReason)
	for _, tag := range r.Tags {
		str("tag", tag)
	}
	walk("resource", r.Resource)
	for _, ag := range r.Agents {
		str("agent id", ag.ID)
		str("agent name", ag.Name)
	}
	for _, ev := range r.Events {
		for _, f := range []string{ev.Kind, ev.Type, ev.Returns, ev.ErrorType, ev.Message} {
			str("event field", f)
		}
		walk("params", ev.Params)
	}
}

// checkSpanList checks a record's span list against MaxRecordSpans and the
// rest of the record: min(span_count, limit) spans, the others counted in
// truncated.spans; distinct IDs in order of start; agents and event indices
// that exist, each event on one span at most (on exactly one when nothing
// was cut); strings within MaxValueBytes; as many LLM and tool spans as the
// counts say when nothing was cut.
func checkSpanList(t *testing.T, op string, r *record.Record, cfg Config) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Fatalf("%s: record %s rev %d: span list: %s", op, r.TraceID, r.Revision, fmt.Sprintf(format, args...))
	}
	cut := 0
	if r.Truncated != nil {
		cut = r.Truncated.Spans
	}
	if cfg.MaxRecordSpans == 0 {
		if len(r.Spans) != 0 || cut != 0 {
			fail("%d spans, %d cut without a span list", len(r.Spans), cut)
		}
		return
	}
	if want := min(r.SpanCount, cfg.MaxRecordSpans); len(r.Spans) != want || cut != r.SpanCount-want {
		fail("%d spans listed and %d cut of %d, limit %d", len(r.Spans), cut, r.SpanCount, cfg.MaxRecordSpans)
	}
	ids := map[string]bool{}
	seen := make([]int, len(r.Events))
	kinds := map[string]int{}
	for i, sp := range r.Spans {
		if ids[sp.ID] {
			fail("span %s twice", sp.ID)
		}
		ids[sp.ID] = true
		if i > 0 && sp.StartUs < r.Spans[i-1].StartUs {
			fail("not in order of start")
		}
		if sp.StartUs < 0 || sp.DurationUs < 0 {
			fail("span %s at %d for %d µs", sp.ID, sp.StartUs, sp.DurationUs)
		}
		if sp.Agent < -1 || sp.Agent >= len(r.Agents) {
			fail("span %s: agent %d of %d", sp.ID, sp.Agent, len(r.Agents))
		}
		for _, e := range sp.Events {
			if e < 0 || e >= len(r.Events) {
				fail("span %s: event %d of %d", sp.ID, e, len(r.Events))
			}
			seen[e]++
		}
		for _, s := range []string{sp.Name, sp.Message, sp.Model, sp.Tool} {
			if cfg.MaxValueBytes > 0 && len(s) > cfg.MaxValueBytes {
				fail("a string of %d bytes", len(s))
			}
		}
		if sp.Tokens != nil && (sp.Kind != record.SpanLLM || !tokensOK(*sp.Tokens)) {
			fail("tokens %+v on a %s span", *sp.Tokens, sp.Kind)
		}
		kinds[sp.Kind]++
	}
	for e, n := range seen {
		if n > 1 || (cut == 0 && n != 1) {
			fail("event %d on %d spans", e, n)
		}
	}
	if cut == 0 && (kinds[record.SpanLLM] != r.Counts.LLMCalls || kinds[record.SpanTool] != r.Counts.ToolCalls) {
		fail("%d LLM and %d tool spans listed, counts say %d and %d", kinds[record.SpanLLM], kinds[record.SpanTool], r.Counts.LLMCalls, r.Counts.ToolCalls)
	}
}

// accountedBytes recounts the bytes the assembler should account for what
// it holds.
func accountedBytes(a *Assembler) int64 {
	var n int64
	for _, ss := range a.sessions {
		n += sizeSession + int64(len(ss.sessionID))
		for i := range ss.spans {
			n += ss.spans[i].size() + sizeIndex
		}
		if ss.root != nil {
			n += ss.root.size()
		}
		if ss.top != nil {
			n += ss.top.size()
		}
		for _, m := range ss.models {
			n += sizeModel + int64(len(m.provider)+len(m.name))
		}
		for _, msg := range ss.messages {
			n += sizeMessage + int64(len(msg))
		}
		if ss.resource != nil {
			n += rawSize(ss.resource)
		}
	}
	return n
}
