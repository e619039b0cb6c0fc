package buffer

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

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
