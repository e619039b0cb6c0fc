package sessionexporter // import "github.com/crewtrace/crewtrace/exporter/sessionexporter"

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/assembler"
)

// The write-ahead log of buffered spans, kept in a storage extension client
// of its own (storage name "sessions"; the records queue has another).
//
// Keys:
//
//	s/<trace id hex>/<seq, 16 hex digits>  the spans of one trace from one
//	                                       ConsumeTraces call (OTLP protobuf)
//	e/<trace id hex>                       emission marker: the next revision
//	                                       and the last seq the emitted record
//	                                       covered (2 × uint64, little endian)
//
// Protocol (the exporter holds its mutex around every step but the enqueue):
//
//  1. ConsumeTraces: the assembler buffers the spans, then the spans of every
//     trace it holds are written (one Batch) before ConsumeTraces returns;
//     if the write fails ConsumeTraces fails, so the receiver does not
//     acknowledge spans that are not durable.
//  2. A session is emitted: its record goes into the sending queue (with
//     sending_queue.storage, a persistent one); only after that succeeds is
//     its marker written. A trace whose state the assembler released
//     (retention over, limit flush, shutdown) has its entries and marker
//     deleted in the same Batch, again only after its records are queued.
//  3. Start: every entry is replayed into the assembler in seq order; a
//     session with a marker is restored as already emitted (retained, next
//     revision from the marker) unless entries newer than the marker exist,
//     in which case it is emitted again as the marker's revision.
//  4. Shutdown does not drain: the buffered sessions stay in storage and
//     carry on after the next start.
//
// So a crash between 2's enqueue and 2's marker write re-emits that session
// with the same revision number; nothing else is repeated and nothing is lost.
const (
	walStorageName = "sessions"
	walSpanPrefix  = "s/"
	walMarkPrefix  = "e/"
)

// walMarker is what an e/ key holds.
type walMarker struct {
	nextRevision uint64
	lastSeq      uint64
}

func (m walMarker) encode() []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b, m.nextRevision)
	binary.LittleEndian.PutUint64(b[8:], m.lastSeq)
	return b
}

func decodeMarker(b []byte) (walMarker, error) {
	if len(b) != 16 {
		return walMarker{}, fmt.Errorf("emission marker of %d bytes", len(b))
	}
	return walMarker{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])}, nil
}

// persister keeps the write-ahead log. It is not safe for concurrent use:
// the exporter calls it under its mutex.
type persister struct {
	client storage.Client
	walker storage.Walker
	seq    uint64 // seq of the next entry

	entries map[pcommon.TraceID][]uint64 // live entries per trace, ascending
	// kept are traces whose records could not be queued: their entries stay
	// in storage (replayed and emitted at the next start) and are never
	// deleted by this process.
	kept map[pcommon.TraceID]struct{}

	marshaler ptrace.ProtoMarshaler
}

// walCommit is what must reach storage once the records of one assembler
// result are queued.
type walCommit struct {
	markers []walMarkerOp
	deletes []walDelete
}

type walMarkerOp struct {
	tid pcommon.TraceID
	m   walMarker
}

type walDelete struct {
	tid  pcommon.TraceID
	seqs []uint64
}

func (c walCommit) empty() bool { return len(c.markers) == 0 && len(c.deletes) == 0 }

// newPersister opens the exporter's client of the storage extension id.
func newPersister(ctx context.Context, host component.Host, id component.ID, owner component.ID) (*persister, error) {
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return nil, fmt.Errorf("storage extension %q not found", id)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("extension %q is not a storage extension", id)
	}
	client, err := se.GetClient(ctx, component.KindExporter, owner, walStorageName)
	if err != nil {
		return nil, fmt.Errorf("storage extension %q: get client: %w", id, err)
	}
	walker, ok := client.(storage.Walker)
	if !ok {
		return nil, errors.Join(fmt.Errorf("storage extension %q: its client cannot list keys (storage.Walker), needed to reload sessions", id), client.Close(ctx))
	}
	return &persister{
		client:  client,
		walker:  walker,
		entries: make(map[pcommon.TraceID][]uint64),
		kept:    make(map[pcommon.TraceID]struct{}),
	}, nil
}

func spanKey(tid pcommon.TraceID, seq uint64) string {
	var b strings.Builder
	b.Grow(len(walSpanPrefix) + 32 + 1 + 16)
	b.WriteString(walSpanPrefix)
	b.WriteString(hex.EncodeToString(tid[:]))
	b.WriteByte('/')
	s := strconv.FormatUint(seq, 16)
	for i := len(s); i < 16; i++ {
		b.WriteByte('0')
	}
	b.WriteString(s)
	return b.String()
}

func markKey(tid pcommon.TraceID) string {
	return walMarkPrefix + hex.EncodeToString(tid[:])
}

func parseTraceID(s string) (pcommon.TraceID, bool) {
	var tid pcommon.TraceID
	if len(s) != 32 {
		return tid, false
	}
	if _, err := hex.Decode(tid[:], []byte(s)); err != nil {
		return tid, false
	}
	return tid, true
}

// appendSpans writes the spans of td that belong to traces asm holds, one
// entry per trace, in one Batch.
func (p *persister) appendSpans(ctx context.Context, td ptrace.Traces, asm *assembler.Assembler) error {
	parts := splitByTrace(td, asm.Holds)
	if len(parts) == 0 {
		return nil
	}
	ops := make([]*storage.Operation, 0, len(parts))
	seqs := make([]uint64, 0, len(parts))
	tids := make([]pcommon.TraceID, 0, len(parts))
	for _, part := range parts {
		b, err := p.marshaler.MarshalTraces(part.td)
		if err != nil {
			return fmt.Errorf("encode spans: %w", err)
		}
		seq := p.seq
		p.seq++
		ops = append(ops, storage.SetOperation(spanKey(part.tid, seq), b))
		seqs = append(seqs, seq)
		tids = append(tids, part.tid)
	}
	if err := p.client.Batch(ctx, ops...); err != nil {
		return fmt.Errorf("write spans to storage: %w", err)
	}
	for i, tid := range tids {
		p.entries[tid] = append(p.entries[tid], seqs[i])
	}
	return nil
}

// settle computes, for one assembler result, the markers of its emitted
// sessions and the deletions of its released traces. Released traces leave
// the in-memory index now, so later entries of the same trace are never
// deleted by this commit.
func (p *persister) settle(res *assembler.Result) walCommit {
	var c walCommit
	for i := range res.Records {
		tid, ok := parseTraceID(res.Records[i].TraceID)
		if !ok {
			continue
		}
		var last uint64
		if s := p.entries[tid]; len(s) > 0 {
			last = s[len(s)-1]
		}
		c.markers = append(c.markers, walMarkerOp{tid, walMarker{uint64(res.Records[i].Revision) + 1, last}})
	}
	for _, tid := range res.Released {
		c.deletes = append(c.deletes, walDelete{tid, p.entries[tid]})
		delete(p.entries, tid)
	}
	return c
}

// apply writes a commit after its records were queued (queued true) or
// failed to be queued (queued false: the traces' entries are kept for the
// next start instead).
func (p *persister) apply(ctx context.Context, c walCommit, queued bool) error {
	if !queued {
		for _, m := range c.markers {
			p.kept[m.tid] = struct{}{}
		}
	}
	ops := make([]*storage.Operation, 0, len(c.markers)+len(c.deletes))
	released := make(map[pcommon.TraceID]bool, len(c.deletes))
	for _, d := range c.deletes {
		if _, keep := p.kept[d.tid]; keep {
			continue
		}
		released[d.tid] = true
		for _, seq := range d.seqs {
			ops = append(ops, storage.DeleteOperation(spanKey(d.tid, seq)))
		}
		ops = append(ops, storage.DeleteOperation(markKey(d.tid)))
	}
	if queued {
		for _, m := range c.markers {
			if released[m.tid] {
				continue
			}
			if _, keep := p.kept[m.tid]; keep {
				continue
			}
			ops = append(ops, storage.SetOperation(markKey(m.tid), m.m.encode()))
		}
	}
	if len(ops) == 0 {
		return nil
	}
	if err := p.client.Batch(ctx, ops...); err != nil {
		return fmt.Errorf("update storage after emission: %w", err)
	}
	return nil
}

// close releases the storage client.
func (p *persister) close(ctx context.Context) error {
	return p.client.Close(ctx)
}

// walEntry is one s/ key read back.
type walEntry struct {
	seq  uint64
	data []byte
}

// loadStats says what load found.
type loadStats struct {
	Sessions, Entries, Emitted int
}

// load replays the log into asm at now and returns what the replay itself
// emitted (only when limits are smaller than the stored state).
func (p *persister) load(ctx context.Context, asm *assembler.Assembler, now time.Time) (assembler.Result, loadStats, error) {
	var (
		st      loadStats
		res     assembler.Result
		entries = map[pcommon.TraceID][]walEntry{}
		markers = map[pcommon.TraceID]walMarker{}
		junk    []string
		maxSeq  uint64
		found   bool
	)
	err := p.walker.Walk(ctx, func(key string, value []byte) ([]*storage.Operation, error) {
		switch {
		case strings.HasPrefix(key, walSpanPrefix):
			rest := key[len(walSpanPrefix):]
			i := strings.IndexByte(rest, '/')
			if i < 0 {
				junk = append(junk, key)
				return nil, nil
			}
			tid, ok := parseTraceID(rest[:i])
			seq, err := strconv.ParseUint(rest[i+1:], 16, 64)
			if !ok || err != nil {
				junk = append(junk, key)
				return nil, nil
			}
			entries[tid] = append(entries[tid], walEntry{seq, slices.Clone(value)})
			if !found || seq > maxSeq {
				maxSeq, found = seq, true
			}
		case strings.HasPrefix(key, walMarkPrefix):
			tid, ok := parseTraceID(key[len(walMarkPrefix):])
			m, err := decodeMarker(value)
			if !ok || err != nil {
				junk = append(junk, key)
				return nil, nil
			}
			markers[tid] = m
		}
		return nil, nil
	})
	if err != nil {
		return res, st, fmt.Errorf("read storage: %w", err)
	}
	if found {
		p.seq = maxSeq + 1
	}

	// Replay in arrival order: traces by their first entry, entries by seq.
	tids := make([]pcommon.TraceID, 0, len(entries))
	for tid, es := range entries {
		slices.SortFunc(es, func(a, b walEntry) int { return cmpUint(a.seq, b.seq) })
		tids = append(tids, tid)
	}
	slices.SortFunc(tids, func(a, b pcommon.TraceID) int { return cmpUint(entries[a][0].seq, entries[b][0].seq) })
	var unmarshaler ptrace.ProtoUnmarshaler
	for _, tid := range tids {
		for _, en := range entries[tid] {
			st.Entries++
			td, err := unmarshaler.UnmarshalTraces(en.data)
			if err != nil {
				junk = append(junk, spanKey(tid, en.seq))
				continue
			}
			r := asm.Add(td, now)
			res.Records = append(res.Records, r.Records...)
			res.Released = append(res.Released, r.Released...)
			p.entries[tid] = append(p.entries[tid], en.seq)
		}
	}
	for _, tid := range tids {
		if !asm.Holds(tid) {
			continue
		}
		st.Sessions++
		if m, ok := markers[tid]; ok {
			es := entries[tid]
			asm.Restore(tid, int(m.nextRevision), es[len(es)-1].seq > m.lastSeq, now)
			st.Emitted++
		}
	}
	// Markers of traces with no entries left are leftovers of a crash
	// between a release's enqueue and its deletion, or of a stale write.
	for tid := range markers {
		if _, ok := entries[tid]; !ok {
			junk = append(junk, markKey(tid))
		}
	}
	if len(junk) > 0 {
		ops := make([]*storage.Operation, len(junk))
		for i, k := range junk {
			ops[i] = storage.DeleteOperation(k)
		}
		if err := p.client.Batch(ctx, ops...); err != nil {
			return res, st, fmt.Errorf("delete stale keys: %w", err)
		}
	}
	return res, st, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// tracePart is the spans of one trace cut out of a batch.
type tracePart struct {
	tid pcommon.TraceID
	td  ptrace.Traces
}

// splitByTrace copies the spans of td into one ptrace.Traces per trace ID
// for which keep returns true, keeping resources and scopes; parts are in
// order of first appearance.
func splitByTrace(td ptrace.Traces, keep func(pcommon.TraceID) bool) []tracePart {
	type dest struct {
		td ptrace.Traces
		rs int // source resource index of the last ResourceSpans appended
		ss int // source scope index of the last ScopeSpans appended
		rt ptrace.ResourceSpans
		st ptrace.ScopeSpans
	}
	var parts []tracePart
	index := map[pcommon.TraceID]*dest{}
	skip := map[pcommon.TraceID]bool{}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				s := spans.At(k)
				tid := s.TraceID()
				if skip[tid] {
					continue
				}
				d := index[tid]
				if d == nil {
					if !keep(tid) {
						skip[tid] = true
						continue
					}
					d = &dest{td: ptrace.NewTraces(), rs: -1, ss: -1}
					index[tid] = d
					parts = append(parts, tracePart{tid, d.td})
				}
				if d.rs != i {
					d.rt = d.td.ResourceSpans().AppendEmpty()
					rs.Resource().CopyTo(d.rt.Resource())
					d.rt.SetSchemaUrl(rs.SchemaUrl())
					d.rs, d.ss = i, -1
				}
				if d.ss != j {
					d.st = d.rt.ScopeSpans().AppendEmpty()
					ss.Scope().CopyTo(d.st.Scope())
					d.st.SetSchemaUrl(ss.SchemaUrl())
					d.ss = j
				}
				s.CopyTo(d.st.Spans().AppendEmpty())
			}
		}
	}
	return parts
}
