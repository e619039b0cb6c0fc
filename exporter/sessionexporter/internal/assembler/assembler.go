// Package assembler regroups spans into session records.
//
// It is pure: spans in, records out. It performs no I/O, starts no
// goroutines and reads no clock — every call takes the current time, so the
// exporter drives it with a ticker and tests drive it by hand. An Assembler is
// not safe for concurrent use; the exporter serialises calls.
//
// Each span is read through the normaliser (internal/dialect), so a trace
// written in any convention it knows is a session: a trace is one when a
// span is crewtrace's session span, or when it looks like a session — a span
// carries a session ID, or is an agent, LLM call, tool call or workflow in
// any convention. Its root is the crewtrace session span, else the trace's
// root span (the one without parent).
//
// Lifecycle of a trace:
//   - spans are buffered by trace ID as compact summaries, deduplicated by span ID;
//   - once the session's root has arrived and GracePeriod has passed since
//     the trace's last new span, the session is emitted (revision 0);
//   - without a root, SessionTimeout after the last new span the trace is
//     emitted as incomplete if it looks like a session or IncludeRootless is
//     set, and otherwise ignored and counted (a trace whose root span has
//     arrived but which does not look like a session waits as long);
//   - an emitted session is retained for SessionTimeout after its emission: a
//     new span in that window makes it pending again and it is emitted as the
//     next revision; after that window only its trace ID is remembered (up to
//     MaxSessions of them) so that a later span is counted as dropped instead
//     of starting an unrelated record;
//   - when MaxSessions, MaxSpans or MaxBytes is exceeded, retained sessions
//     are released first, then the oldest pending session is emitted as
//     partial (flush_reason "limit");
//   - what it keeps of a client's values is cut at read time (MaxValueBytes,
//     MaxEventsPerSpan) and counted, in Result and in the record's
//     truncated object (bounds.go);
//   - Drain emits every pending session (flush_reason "shutdown").
//
// Crash safety is the job of the exporter's buffer (internal/buffer): it
// writes the spans it hands to Add to a storage extension, deletes them when
// Result.Released names their trace, and after a restart replays them
// through Add and tells the assembler with Restore which sessions were
// already emitted. The assembler itself stays pure.
package assembler

import (
	"container/list"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/dialect"
	"github.com/crewtrace/crewtrace/pricing"
	"github.com/crewtrace/crewtrace/record"
)

// Config configures an Assembler. Zero limits mean "no limit"; the exporter's
// configuration validation guarantees positive values.
type Config struct {
	// GracePeriod is how long to wait for late children after the root has
	// arrived, counted from the trace's last new span.
	GracePeriod time.Duration
	// SessionTimeout is how long a trace without a root is kept after its last
	// new span, and how long an emitted session is kept for revisions.
	SessionTimeout time.Duration
	// MaxSessions bounds the traces held (pending and retained).
	MaxSessions int
	// MaxSpans bounds the span summaries held over all traces.
	MaxSpans int
	// MaxBytes bounds the accounted bytes of everything held (bounds.go).
	MaxBytes int64
	// MaxValueBytes bounds each string kept from a span (attribute values
	// and keys, event fields, tags); longer ones are cut. At least
	// MinValueBytes when set.
	MaxValueBytes int
	// MaxEventsPerSpan bounds the session events kept per span; later ones
	// are dropped.
	MaxEventsPerSpan int
	// MaxRecordSpans is how many spans a record lists at most (Record.Spans,
	// for a waterfall); 0 lists none. Beyond it the session root, then agent,
	// LLM and tool spans are kept before others, earliest first, and the
	// rest counted in Record.Truncated.Spans.
	MaxRecordSpans int
	// IncludeRootless emits records for traces that never had a session root
	// and do not look like a session, instead of ignoring them.
	IncludeRootless bool
	// TraceURLBase is the Jaeger UI base URL; records get TraceURLBase/trace/<id>.
	TraceURLBase string
	// Prices prices the LLM calls (cost.go); nil leaves records without cost.
	Prices *pricing.Table
}

// Result is what one call produced: the records to write and the counts the
// exporter turns into telemetry.
type Result struct {
	// Records are the emitted records, in emission order.
	Records []record.Record
	// IgnoredTraces counts traces dropped for having no session root.
	IgnoredTraces int
	// IgnoredSpans counts the spans of those traces.
	IgnoredSpans int
	// DuplicateSpans counts spans already held (same trace and span ID).
	DuplicateSpans int
	// MalformedSpans counts spans dropped for a missing trace or span ID.
	MalformedSpans int
	// BadTimestamps counts spans kept with unusable times (zero, end before
	// start, beyond year 2200); their times do not count toward the session's.
	BadTimestamps int
	// LateSpans counts spans dropped because their session had already been
	// released (after its retention window, or after a limit flush).
	LateSpans int
	// ReleasedRetained counts emitted sessions released early to make room.
	ReleasedRetained int
	// TruncatedValues counts the strings cut to MaxValueBytes in the spans
	// this call read.
	TruncatedValues int
	// DroppedEvents counts the session events dropped beyond
	// MaxEventsPerSpan in the spans this call read.
	DroppedEvents int
	// Released lists the traces whose state this call dropped (retention
	// over, limit flush, ignored trace, Drain), after their records, if any,
	// are in Records. A persistence layer deletes what it holds for them.
	Released []pcommon.TraceID
}

// session is the state of one trace.
type session struct {
	traceID pcommon.TraceID
	spans   []span
	index   map[pcommon.SpanID]int32 // built once spans outgrow a linear scan
	root    *root                    // the crewtrace session span's
	rootIdx int
	top     *root // the trace's root span's (no parent), earliest start first
	topIdx  int
	// looksLike is true once a span carries a session ID or is an agent,
	// LLM call, tool call or workflow in any convention.
	looksLike bool
	sources   dialect.Sources // conventions that classified the spans
	resource  map[string]any
	sessionID string
	idRank    uint8            // where sessionID came from: idFromSpan, idFromTop, idFromRoot
	models    []model          // distinct (provider, model) of LLM spans, by first arrival
	messages  map[int32]string // why failed spans failed, by span index
	firstSeen int64
	lastSeen  int64
	emitted   int64 // when the last record was emitted
	revision  int   // revision of the next record
	pending   bool  // has spans not yet in an emitted record
	elem      *list.Element

	bytes     int64 // accounted size of what the session holds (bounds.go)
	cutValues int   // strings cut in its spans
	cutEvents int   // events dropped from its spans
}

// linearLimit is the span count up to which duplicates are found by scanning.
const linearLimit = 16

// Assembler buffers spans and emits session records. Create it with New.
type Assembler struct {
	cfg      Config
	sessions map[pcommon.TraceID]*session
	pending  *list.List // *session, oldest first arrival first
	retained *list.List // *session, emitted and clean, oldest emission first
	spans    int
	bytes    int64 // accounted size of all sessions

	rd reader // reads span values under the value limits

	// batch counts, during Add, the spans of each trace not yet reserved
	// in its session, so a session's span slice grows once per batch.
	batch map[pcommon.TraceID]int32
	// res is, during Add, the resource of the ResourceSpans being read.
	res resourceCache

	tombs    map[pcommon.TraceID]struct{}
	tombRing []pcommon.TraceID
	tombNext int
}

// New returns an empty Assembler.
func New(cfg Config) *Assembler {
	return &Assembler{
		rd:       reader{maxValue: cfg.MaxValueBytes, maxEvents: cfg.MaxEventsPerSpan},
		cfg:      cfg,
		sessions: make(map[pcommon.TraceID]*session),
		pending:  list.New(),
		retained: list.New(),
		batch:    make(map[pcommon.TraceID]int32),
		tombs:    make(map[pcommon.TraceID]struct{}),
	}
}

// Buffered returns the number of traces and span summaries held.
func (a *Assembler) Buffered() (sessions, spans int) {
	return len(a.sessions), a.spans
}

// BufferedBytes returns the accounted bytes held (bounds.go), what
// MaxBytes bounds.
func (a *Assembler) BufferedBytes() int64 {
	return a.bytes
}

// Add buffers the spans of td at time now, then applies the limits. It does
// not emit sessions whose deadlines passed; Tick does.
func (a *Assembler) Add(td ptrace.Traces, now time.Time) Result {
	var res Result
	t := now.UnixNano()
	rss := td.ResourceSpans()
	clear(a.batch)
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				a.batch[spans.At(k).TraceID()]++
			}
		}
	}
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		a.res = resourceCache{}
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				a.addSpan(spans.At(k), rs.Resource(), t, &res)
			}
		}
	}
	return res
}

func (a *Assembler) addSpan(s ptrace.Span, res pcommon.Resource, now int64, out *Result) {
	tid := s.TraceID()
	if tid.IsEmpty() || s.SpanID().IsEmpty() {
		out.MalformedSpans++
		return
	}
	ss := a.sessions[tid]
	if ss == nil {
		if _, gone := a.tombs[tid]; gone {
			out.LateSpans++
			return
		}
		ss = &session{traceID: tid, firstSeen: now, rootIdx: -1, topIdx: -1, bytes: sizeSession}
		a.sessions[tid] = ss
		a.bytes += sizeSession
	} else if ss.has(s.SpanID()) {
		out.DuplicateSpans++
		return
	}

	a.rd.reset()
	sp, f := summarise(s, &a.rd)
	if sp.badTime {
		out.BadTimestamps++
	}
	if sp.kind == kindLLM && a.cfg.Prices != nil {
		a.price(&sp, &f, now)
	}
	if n := a.batch[tid]; n > 0 {
		ss.spans = growSpans(ss.spans, int(n))
		a.batch[tid] = 0
	}
	var grow int64
	if f.model != "" || f.provider != "" {
		n := len(ss.models)
		sp.model = ss.modelIndex(f.provider, f.model)
		if len(ss.models) > n {
			grow += sizeModel + int64(len(f.provider)+len(f.model))
		}
	}
	ss.add(sp)
	a.spans++
	grow += sp.size() + sizeIndex
	idx := len(ss.spans) - 1
	if sp.statusErr && f.message != "" {
		if ss.messages == nil {
			ss.messages = make(map[int32]string)
		}
		ss.messages[int32(idx)] = f.message
		grow += sizeMessage + int64(len(f.message))
	}
	ss.sources.Add(sp.source)
	if f.sessionID != "" || sp.kind != kindOther {
		ss.looksLike = true
	}
	switch rt := f.root; {
	case rt == nil:
	case rt.crewtrace:
		if ss.root == nil {
			ss.root, ss.rootIdx = rt, idx
			grow += rt.size() + ss.setResource(a.resource(res))
			grow += ss.setSessionID(f.sessionID, idFromRoot)
		}
	case ss.top == nil || (!sp.badTime && (ss.spans[ss.topIdx].badTime || sp.start < ss.spans[ss.topIdx].start)):
		if ss.top != nil {
			grow -= ss.top.size()
		}
		ss.top, ss.topIdx = rt, idx
		grow += rt.size()
		if ss.root == nil {
			grow += ss.setResource(a.resource(res))
		}
		grow += ss.setSessionID(f.sessionID, idFromTop)
	}
	if ss.resource == nil {
		grow += ss.setResource(a.resource(res))
	}
	grow += ss.setSessionID(f.sessionID, idFromSpan)
	ss.bytes += grow
	a.bytes += grow
	ss.cutValues += a.rd.values
	ss.cutEvents += a.rd.events
	out.TruncatedValues += a.rd.values
	out.DroppedEvents += a.rd.events
	ss.lastSeen = now
	if !ss.pending {
		a.makePending(ss)
	}
	a.enforceLimits(now, out)
}

// resourceCache holds the resource attributes of one ResourceSpans as
// sessions keep them, read once: every session that starts in it shares the
// map (records only read it), instead of a copy per session — a request of
// many sessions' spans from one process has one resource.
type resourceCache struct {
	m    map[string]any
	cuts int // strings cut reading it, counted again for every session taking it
}

// resource returns res's attributes as sessions keep them, read once per
// ResourceSpans (Add resets the cache).
func (a *Assembler) resource(res pcommon.Resource) map[string]any {
	if a.res.m == nil {
		before := a.rd.values
		a.res.m = a.rd.rawMap(res.Attributes())
		a.res.cuts = a.rd.values - before
		return a.res.m
	}
	a.rd.values += a.res.cuts
	return a.res.m
}

// makePending moves a new or retained session to the pending list.
func (a *Assembler) makePending(ss *session) {
	if ss.elem != nil {
		a.retained.Remove(ss.elem)
	}
	ss.pending = true
	ss.elem = a.pending.PushBack(ss)
}

func (a *Assembler) enforceLimits(now int64, out *Result) {
	for a.overLimit() {
		if e := a.retained.Front(); e != nil {
			ss := e.Value.(*session)
			a.release(ss)
			out.ReleasedRetained++
			out.Released = append(out.Released, ss.traceID)
			continue
		}
		e := a.pending.Front()
		if e == nil {
			return
		}
		ss := e.Value.(*session)
		if a.ignorable(ss) {
			// What Tick and Drain would ignore is ignored here too, not
			// turned into a record by the pressure of a limit.
			out.IgnoredTraces++
			out.IgnoredSpans += len(ss.spans)
			a.forget(ss)
			out.Released = append(out.Released, ss.traceID)
			continue
		}
		out.Records = append(out.Records, a.build(ss, record.FlushLimit, now))
		a.release(ss)
		out.Released = append(out.Released, ss.traceID)
	}
}

// ignorable reports whether a pending trace gets no record: no session
// root, does not look like a session, never emitted, and include_rootless off.
func (a *Assembler) ignorable(ss *session) bool {
	return ss.root == nil && !ss.looksLike && !a.cfg.IncludeRootless && ss.revision == 0
}

func (a *Assembler) overLimit() bool {
	return (a.cfg.MaxSessions > 0 && len(a.sessions) > a.cfg.MaxSessions) ||
		(a.cfg.MaxSpans > 0 && a.spans > a.cfg.MaxSpans) ||
		(a.cfg.MaxBytes > 0 && a.bytes > a.cfg.MaxBytes)
}

// Tick emits the sessions whose deadlines have passed at now and releases
// retained sessions whose retention window is over.
func (a *Assembler) Tick(now time.Time) Result {
	var res Result
	t := now.UnixNano()
	grace, timeout := a.cfg.GracePeriod.Nanoseconds(), a.cfg.SessionTimeout.Nanoseconds()
	for e := a.pending.Front(); e != nil; {
		next := e.Next()
		ss := e.Value.(*session)
		idle := t - ss.lastSeen
		switch {
		case ss.hasRoot() && idle >= grace:
			res.Records = append(res.Records, a.build(ss, record.FlushGracePeriod, t))
			a.retain(ss, t)
		case !ss.hasRoot() && idle >= timeout:
			if ss.looksLike || a.cfg.IncludeRootless || ss.revision > 0 {
				res.Records = append(res.Records, a.build(ss, record.FlushSessionTimeout, t))
				a.retain(ss, t)
			} else {
				res.IgnoredTraces++
				res.IgnoredSpans += len(ss.spans)
				a.forget(ss)
				res.Released = append(res.Released, ss.traceID)
			}
		}
		e = next
	}
	for e := a.retained.Front(); e != nil; {
		next := e.Next()
		ss := e.Value.(*session)
		if t-ss.emitted >= timeout {
			a.release(ss)
			res.Released = append(res.Released, ss.traceID)
		}
		e = next
	}
	return res
}

// Drain emits every pending session as partial (flush_reason "shutdown") and
// releases all state.
func (a *Assembler) Drain(now time.Time) Result {
	res := Result{Records: make([]record.Record, 0, a.pending.Len())}
	t := now.UnixNano()
	for tid := range a.sessions {
		res.Released = append(res.Released, tid)
	}
	for e := a.pending.Front(); e != nil; e = e.Next() {
		ss := e.Value.(*session)
		if a.ignorable(ss) {
			res.IgnoredTraces++
			res.IgnoredSpans += len(ss.spans)
			continue
		}
		res.Records = append(res.Records, a.build(ss, record.FlushShutdown, t))
	}
	a.sessions = make(map[pcommon.TraceID]*session)
	a.pending.Init()
	a.retained.Init()
	a.spans = 0
	a.bytes = 0
	return res
}

// Holds reports whether the assembler holds state for the trace.
func (a *Assembler) Holds(tid pcommon.TraceID) bool {
	_, ok := a.sessions[tid]
	return ok
}

// Pending reports whether the trace has spans not yet in an emitted record
// (or, for a trace that gets no record, not yet ignored): a later Tick,
// limit or Drain settles it.
func (a *Assembler) Pending(tid pcommon.TraceID) bool {
	ss := a.sessions[tid]
	return ss != nil && ss.pending
}

// Restore tells the assembler, after a restart, that records up to revision
// nextRevision-1 of the trace's session were emitted before: the session's
// next record is revision nextRevision. With pending false the session is
// retained as emitted at now (no new record unless a new span arrives);
// with pending true it stays pending (spans arrived after its last record)
// and is emitted as that next revision. It reports whether the trace is
// held; a trace not held is left alone.
func (a *Assembler) Restore(tid pcommon.TraceID, nextRevision int, pending bool, now time.Time) bool {
	ss := a.sessions[tid]
	if ss == nil {
		return false
	}
	ss.revision = max(ss.revision, nextRevision)
	if !pending && ss.pending {
		a.retain(ss, now.UnixNano())
	}
	return true
}

// retain moves a session emitted at now to the retained list.
func (a *Assembler) retain(ss *session, now int64) {
	a.pending.Remove(ss.elem)
	ss.pending = false
	ss.emitted = now
	ss.elem = a.retained.PushBack(ss)
}

// release drops a session's state and remembers its trace ID, so a later
// span is counted as late rather than starting an unrelated record.
func (a *Assembler) release(ss *session) {
	a.forget(ss)
	if a.cfg.MaxSessions <= 0 {
		return
	}
	if len(a.tombRing) < a.cfg.MaxSessions {
		a.tombRing = append(a.tombRing, ss.traceID)
	} else {
		delete(a.tombs, a.tombRing[a.tombNext])
		a.tombRing[a.tombNext] = ss.traceID
		a.tombNext = (a.tombNext + 1) % len(a.tombRing)
	}
	a.tombs[ss.traceID] = struct{}{}
}

// forget drops a session's state.
func (a *Assembler) forget(ss *session) {
	if ss.pending {
		a.pending.Remove(ss.elem)
	} else if ss.elem != nil {
		a.retained.Remove(ss.elem)
	}
	ss.elem = nil
	a.spans -= len(ss.spans)
	a.bytes -= ss.bytes
	delete(a.sessions, ss.traceID)
}

// setResource replaces the session's resource attributes and returns the
// change in its accounted size.
func (ss *session) setResource(m map[string]any) int64 {
	var old int64
	if ss.resource != nil {
		old = rawSize(ss.resource)
	}
	ss.resource = m
	return rawSize(m) - old
}

// has reports whether the session holds a span with this ID.
func (ss *session) has(id pcommon.SpanID) bool {
	if ss.index != nil {
		_, ok := ss.index[id]
		return ok
	}
	for i := range ss.spans {
		if ss.spans[i].id == id {
			return true
		}
	}
	return false
}

// growSpans makes room for n more spans. A session's spans commonly arrive
// in two batches (its children, then its root, which ends last), and
// append's doubling would then hold twice the memory the session needs for
// as long as it is buffered and retained: growing by what the batch brings,
// and by at least a quarter so that copying stays amortised, keeps the
// slack under a quarter (BenchmarkHotPath/held).
func growSpans(s []span, n int) []span {
	if cap(s)-len(s) >= n {
		return s
	}
	out := make([]span, len(s), max(len(s)+n, len(s)+len(s)/4))
	copy(out, s)
	return out
}

func (ss *session) add(sp span) {
	ss.spans = append(ss.spans, sp)
	switch n := len(ss.spans); {
	case n > linearLimit && ss.index == nil:
		ss.index = make(map[pcommon.SpanID]int32, 2*n)
		for i := range ss.spans {
			ss.index[ss.spans[i].id] = int32(i)
		}
	case ss.index != nil:
		ss.index[sp.id] = int32(n - 1)
	}
}

// sessionRoot returns the session's root and its span index: the crewtrace
// session span, else the trace's root span once the trace looks like a
// session; nil when it has none (yet).
func (ss *session) sessionRoot() (*root, int) {
	if ss.root != nil {
		return ss.root, ss.rootIdx
	}
	if ss.top != nil && ss.looksLike {
		return ss.top, ss.topIdx
	}
	return nil, -1
}

// hasRoot reports whether the session's root has arrived.
func (ss *session) hasRoot() bool {
	rt, _ := ss.sessionRoot()
	return rt != nil
}

// Where a session ID came from, lowest first: a later one replaces an
// earlier one only from a better place, so the root's ID wins when spans
// of one trace disagree.
const (
	idFromSpan uint8 = iota + 1
	idFromTop
	idFromRoot
)

// setSessionID records id as the session's ID if it comes from a better
// place than the one held.
func (ss *session) setSessionID(id string, from uint8) (grow int64) {
	if id != "" && from > ss.idRank {
		grow = int64(len(id) - len(ss.sessionID))
		ss.sessionID, ss.idRank = id, from
	}
	return grow
}

// model is one distinct model the session's LLM calls used.
type model struct{ provider, name string }

// maxModels bounds the distinct models kept per session; an LLM span with a
// further model is counted without one (no client can grow this list
// without bound).
const maxModels = 64

// modelIndex returns the index of (provider, name) in the session's models,
// adding it if new; -1 once maxModels are held.
func (ss *session) modelIndex(provider, name string) int16 {
	for i, m := range ss.models {
		if m.provider == provider && m.name == name {
			return int16(i)
		}
	}
	if len(ss.models) >= maxModels {
		return -1
	}
	ss.models = append(ss.models, model{provider, name})
	return int16(len(ss.models) - 1)
}

// sessionIDOf returns the record key of a session.
func (ss *session) sessionIDOf() string {
	if ss.sessionID != "" {
		return ss.sessionID
	}
	return ss.traceID.String()
}

// endStateUnknown is the end reason of a session whose root never arrived.
const endStateUnknown = "session root span not received"

func unixTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
