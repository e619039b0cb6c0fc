package sessionexporter // import "github.com/crewtrace/crewtrace/exporter/sessionexporter"

import (
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/crewtrace/crewtrace/record"
)

// Attribute keys of a record carried as a log record.
const (
	carrierSessionID = "session_id"
	carrierRevision  = "revision"
)

// appendRecord packs one encoded record as a log record: the JSON as the
// body (copied), the keys as attributes, so exporterhelper can queue (and
// persist) records.
func appendRecord(lrs plog.LogRecordSlice, sessionID string, revision int, json []byte) {
	lr := lrs.AppendEmpty()
	lr.Body().SetEmptyBytes().FromRaw(json)
	lr.Attributes().EnsureCapacity(2)
	lr.Attributes().PutStr(carrierSessionID, sessionID)
	lr.Attributes().PutInt(carrierRevision, int64(revision))
}

// fromLogs unpacks the records of a (possibly batched) carrier.
func fromLogs(ld plog.Logs) []record.Encoded {
	recs := make([]record.Encoded, 0, ld.LogRecordCount())
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				r := record.Encoded{JSON: lr.Body().Bytes().AsRaw()}
				if v, ok := lr.Attributes().Get(carrierSessionID); ok {
					r.SessionID = v.Str()
				}
				if v, ok := lr.Attributes().Get(carrierRevision); ok {
					r.Revision = int(v.Int())
				}
				recs = append(recs, r)
			}
		}
	}
	return recs
}
