package sessionexporter // import "github.com/crewtrace/crewtrace/exporter/sessionexporter"

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/sink"
	"github.com/crewtrace/crewtrace/record"
)

// Several sinks, one assembly:
//
//	emit ─▶ encode each record once ─▶ plog.Logs ─┬─▶ records_file   queue ─▶ retry ─▶ timeout ─▶ file
//	                                    (a copy    ├─▶ records_sqlite queue ─▶ retry ─▶ timeout ─▶ sqlite
//	                                     per sink) └─▶ …
//
// Every sink has an exporterhelper records exporter of its own (component
// ID session[/name]_records_<sink>), built from the exporter's one
// sending_queue / retry_on_failure / timeout configuration: its own queue,
// consumers, retries and, with sending_queue.storage, its own persistent
// queue. A sink that is down fills its queue and retries; the others go on
// writing. What happens once a down sink's queue is full is the queue's
// policy, as with one sink: with block_on_overflow (the default) emission
// waits for room, for every sink (nothing is dropped anywhere); without it,
// that sink's records are dropped and counted (sink_failures{kind=enqueue,
// sink=…}) while the others get them.
//
// With a storage extension, the buffer's Commit waits for every sink's
// queue: a batch counts as queued only when each queue took it. If one did
// not, the sessions' spans stay in storage and are emitted again at the
// next start — to every sink, which the store sinks ignore (same revision)
// and a file reader deduplicates by (session_id, revision).

// namedSink is a sink and the config section it comes from (its metric
// attribute and the suffix of its records exporter's ID).
type namedSink struct {
	key  string
	sink sink.Sink
}

// configuredSinks builds the sinks of the sections that are set.
func configuredSinks(cfg *Config, set component.TelemetrySettings) []namedSink {
	var out []namedSink
	for _, sec := range cfg.sinks() {
		out = append(out, namedSink{key: sec.key, sink: sec.new(set)})
	}
	return out
}

// sinkQueue is one sink behind its records exporter.
type sinkQueue struct {
	key     string
	sink    sink.Sink
	records exporter.Logs

	// Metric attribute sets, with sink=key.
	written                                  metric.AddOption
	permanent, retryable, rejected, enqueued metric.AddOption
}

// newSinkQueue builds the records exporter of one sink.
func (e *sessionExporter) newSinkQueue(ctx context.Context, set exporter.Settings, ns namedSink) (*sinkQueue, error) {
	attrs := func(kv ...attribute.KeyValue) metric.AddOption {
		return metric.WithAttributeSet(attribute.NewSet(append(kv, attribute.String("sink", ns.key))...))
	}
	kind := func(k string) metric.AddOption { return attrs(attribute.String("kind", k)) }
	q := &sinkQueue{
		key: ns.key, sink: ns.sink,
		written:   attrs(),
		permanent: kind("permanent"), retryable: kind("retryable"), rejected: kind("rejected"), enqueued: kind("enqueue"),
	}
	recordsSet := set
	name := "records_" + ns.key
	if set.ID.Name() != "" {
		name = set.ID.Name() + "_" + name
	}
	recordsSet.ID = component.NewIDWithName(set.ID.Type(), name)
	var err error
	q.records, err = exporterhelper.NewLogs(ctx, recordsSet, e.cfg, e.pushTo(q),
		exporterhelper.WithStart(q.sink.Start),
		exporterhelper.WithShutdown(q.sink.Shutdown),
		exporterhelper.WithTimeout(e.cfg.TimeoutConfig),
		exporterhelper.WithRetry(e.cfg.BackOffConfig),
		exporterhelper.WithQueue(e.cfg.QueueConfig),
	)
	if err != nil {
		return nil, fmt.Errorf("session exporter: build the records queue of sink %s: %w", ns.key, err)
	}
	return q, nil
}

// startSinks starts every sink's records exporter (which starts the sink);
// if one fails, those started are shut down.
func (e *sessionExporter) startSinks(ctx context.Context, host component.Host) error {
	for i, q := range e.sinks {
		if err := q.records.Start(ctx, host); err != nil {
			var errs []error
			for _, started := range e.sinks[:i] {
				errs = append(errs, started.records.Shutdown(ctx))
			}
			return errors.Join(append([]error{fmt.Errorf("session exporter: start sink %s: %w", q.key, err)}, errs...)...)
		}
	}
	return nil
}

// shutdownSinks flushes and shuts down every sink's records exporter.
func (e *sessionExporter) shutdownSinks(ctx context.Context) error {
	var errs []error
	for _, q := range e.sinks {
		if err := q.records.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("sink %s: %w", q.key, err))
		}
	}
	return errors.Join(errs...)
}

// maxRecordsPerRequest bounds the records of one queue request. A request is
// what a sink writes at once — the store sinks in one transaction — within
// `timeout`, and one tick emits every session whose grace period ended:
// after a burst, thousands at once. A request too large to be written within
// the timeout on a busy machine would fail the same way on every retry and
// never be written; 500 records take the SQLite store about a tenth of a
// second.
const maxRecordsPerRequest = 500

// enqueue counts and encodes records, once, and hands them to every sink's
// queue, in requests of at most maxRecordsPerRequest records. It reports
// whether every sink's queue took every record that could be encoded.
func (e *sessionExporter) enqueue(ctx context.Context, recs []record.Record) bool {
	if len(recs) == 0 {
		return true
	}
	var (
		requests []plog.Logs
		lrs      plog.LogRecordSlice
		ids      = make([]string, 0, len(recs))
		enc      record.Encoder
	)
	for i := range recs {
		r := &recs[i]
		e.countEmitted(ctx, r)
		r.Fragment = e.fragment
		b, err := enc.Encode(r)
		if err != nil {
			for _, q := range e.sinks {
				e.tel.SinkFailures.Add(ctx, 1, q.permanent)
			}
			e.logger.Error("Session record could not be encoded; dropped",
				zap.String("session_id", shortID(r.SessionID)), zap.Int("revision", r.Revision), zap.Error(err))
			continue
		}
		if len(ids)%maxRecordsPerRequest == 0 {
			ld := plog.NewLogs()
			lrs = ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
			lrs.EnsureCapacity(min(len(recs)-i, maxRecordsPerRequest))
			requests = append(requests, ld)
		}
		appendRecord(lrs, r.SessionID, r.Revision, b)
		ids = append(ids, r.SessionID)
	}
	if len(ids) == 0 {
		return true
	}
	queued := true
	for i, q := range e.sinks {
		for _, ld := range requests {
			// Each queue gets its own copy, made before any queue holds one:
			// a queue (or its batcher) owns the data it is handed.
			if i < len(e.sinks)-1 {
				cp := plog.NewLogs()
				ld.CopyTo(cp)
				ld = cp
			}
			if err := q.records.ConsumeLogs(ctx, ld); err != nil {
				queued = false
				n := ld.LogRecordCount()
				e.tel.SinkFailures.Add(ctx, int64(n), q.enqueued)
				msg := "Session records could not be queued for the sink; dropped for it"
				if e.buf.Durable() {
					msg = "Session records could not be queued for the sink; their spans stay in storage and are emitted again at the next start"
				}
				e.logger.Error(msg, idFields(requestIDs(ld), zap.String("sink", q.key), zap.Error(err))...)
			}
		}
	}
	return queued
}

// requestIDs returns the session IDs of the records in one request.
func requestIDs(ld plog.Logs) []string {
	lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	ids := make([]string, lrs.Len())
	for i := range ids {
		if v, ok := lrs.At(i).Attributes().Get(carrierSessionID); ok {
			ids[i] = v.Str()
		}
	}
	return ids
}

// countEmitted records the telemetry of one emitted record.
func (e *sessionExporter) countEmitted(ctx context.Context, r *record.Record) {
	tel := e.tel
	state, reason := endStateClass(r.EndState), flushReasonClass(r.FlushReason)
	tel.SessionsEmitted.Add(ctx, 1, e.emitted.sessions[state][reason][b2i(r.Complete)])
	if r.Revision > 0 {
		tel.Revisions.Add(ctx, 1)
	} else {
		tel.SessionDuration.Record(ctx, r.DurationMs/1e3, e.emitted.duration[state])
	}
	if r.Partial() {
		tel.PartialFlushes.Add(ctx, 1, e.emitted.partial[reason])
	}
}

// pushTo returns the consumer of one sink's records exporter: it hands a
// batch to the sink and accounts for the outcome. What it returns is what
// exporterhelper counts, all or nothing per batch
// (otelcol_exporter_sent_log_records on nil, send_failed_log_records on an
// error), so the exporter's own counters say the same, record by record:
//
//	sink answer                         returns     records_written  sink_failures       exporterhelper
//	nil                                 nil         +n                                   sent +n
//	*sink.Rejected (k refused one by    nil         +(n-k)           {kind=rejected} +k  sent +n: the write
//	one, the rest written)                                                               request succeeded
//	permanent error (the whole batch)   the error                    {kind=permanent} +n send_failed +n
//	retryable error                     the error                    {kind=retryable} +n retried; send_failed +n
//	                                                                 (each attempt)      once retries give up
//
// (each with sink=<section>). A *sink.Rejected is a success for the queue:
// the sink took the batch and answered for each record, and the refused
// records are dropped by the sink itself; failing the batch would make
// exporterhelper count the written records as lost.
func (e *sessionExporter) pushTo(q *sinkQueue) func(context.Context, plog.Logs) error {
	return func(ctx context.Context, ld plog.Logs) error {
		recs := fromLogs(ld)
		if len(recs) == 0 {
			return nil
		}
		err := q.sink.Write(ctx, recs)
		var rejected *sink.Rejected
		switch {
		case err == nil:
			e.tel.RecordsWritten.Add(ctx, int64(len(recs)), q.written)
			return nil
		case errors.As(err, &rejected):
			if stored := len(recs) - len(rejected.SessionIDs); stored > 0 {
				e.tel.RecordsWritten.Add(ctx, int64(stored), q.written)
			}
			e.tel.SinkFailures.Add(ctx, int64(len(rejected.SessionIDs)), q.rejected)
			e.logger.Error("Sink refused session records (the rest of their batch is written); dropped",
				idFields(rejected.SessionIDs, zap.String("sink", q.key), zap.Int("batch", len(recs)), zap.Error(err))...)
			return nil
		case consumererror.IsPermanent(err):
			e.tel.SinkFailures.Add(ctx, int64(len(recs)), q.permanent)
			e.logger.Error("Sink rejected session records permanently; dropped",
				idFields(sessionIDs(recs), zap.String("sink", q.key), zap.Error(err))...)
		default:
			e.tel.SinkFailures.Add(ctx, int64(len(recs)), q.retryable)
			e.logger.Warn("Sink write failed; will retry",
				idFields(sessionIDs(recs), zap.String("sink", q.key), zap.Error(err))...)
		}
		return err
	}
}

func sessionIDs(recs []record.Encoded) []string {
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.SessionID
	}
	return ids
}
