package sessionexporter // import "github.com/crewtrace/crewtrace/exporter/sessionexporter"

import (
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/record"
)

// plogLogs is the carrier type of the records queue.
type plogLogs = plog.Logs

// Attribute keys of a record carried as a log record.
const (
	carrierSessionID = "session_id"
	carrierRevision  = "revision"
)

// toLogs packs encoded records into plog.Logs, one log record each, the JSON
// as the body, so exporterhelper can queue (and persist) them.
func toLogs(recs []record.Encoded) plog.Logs {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	lrs.EnsureCapacity(len(recs))
	for _, r := range recs {
		lr := lrs.AppendEmpty()
		lr.Body().SetEmptyBytes().FromRaw(r.JSON)
		lr.Attributes().PutStr(carrierSessionID, r.SessionID)
		lr.Attributes().PutInt(carrierRevision, int64(r.Revision))
	}
	return ld
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
