package sessionexporter // import "github.com/crewtrace/crewtrace/exporter/sessionexporter"

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/assembler"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/metadata"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/sink"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/sink/postgres"
	"github.com/crewtrace/crewtrace/record"
)

// sessionExporter is the pipeline
//
//	ConsumeTraces ─▶ assembler (in memory, under mu) ─▶ records ─▶ records exporter
//	                      ▲ ticker drives its clock        (exporterhelper queue + retry + timeout) ─▶ sink
//
// The records exporter is an exporterhelper logs exporter used as a typed
// queue: each emitted record travels as one log record whose body is the
// record's JSON. This gives the sink exporterhelper's queue, batching, retry,
// timeout and persistent storage (sending_queue.storage) without a
// hand-written queue.
type sessionExporter struct {
	cfg    *Config
	id     component.ID
	logger *zap.Logger
	tel    *metadata.TelemetryBuilder
	now    func() time.Time

	mu  sync.Mutex
	asm *assembler.Assembler
	wal *persister // nil without a storage extension; used under mu

	sink    sink.Sink
	records exporter.Logs

	stop chan struct{}
	done chan struct{}
	// run is cancelled when Shutdown starts, so that an emission waiting for
	// room in a full queue (block_on_overflow) gives up instead of hanging
	// the shutdown.
	run       context.Context
	cancelRun context.CancelFunc

	attrMu       sync.Mutex
	emittedAttrs map[emittedKey]metric.MeasurementOption
}

// newTracesExporter builds the exporter; now is its clock.
func newTracesExporter(ctx context.Context, set exporter.Settings, cfg *Config, now func() time.Time) (exporter.Traces, error) {
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	e := &sessionExporter{
		cfg:    cfg,
		id:     set.ID,
		logger: set.Logger,
		tel:    tel,
		now:    now,

		emittedAttrs: make(map[emittedKey]metric.MeasurementOption),
		run:          context.Background(),
		cancelRun:    func() {},
		asm: assembler.New(assembler.Config{
			GracePeriod:     cfg.GracePeriod,
			SessionTimeout:  cfg.SessionTimeout,
			MaxSessions:     cfg.MaxSessions,
			MaxSpans:        cfg.MaxSpans,
			IncludeRootless: cfg.IncludeRootless,
			TraceURLBase:    cfg.TraceURLBase,
		}),
	}
	e.sink, err = newSink(cfg, set.TelemetrySettings)
	if err != nil {
		tel.Shutdown()
		return nil, err
	}

	recordsSet := set
	recordsName := "records"
	if set.ID.Name() != "" {
		recordsName = set.ID.Name() + "_records"
	}
	recordsSet.ID = component.NewIDWithName(set.ID.Type(), recordsName)
	e.records, err = exporterhelper.NewLogs(ctx, recordsSet, cfg, e.pushRecords,
		exporterhelper.WithStart(e.sink.Start),
		exporterhelper.WithShutdown(e.sink.Shutdown),
		exporterhelper.WithTimeout(cfg.TimeoutConfig),
		exporterhelper.WithRetry(cfg.BackOffConfig),
		exporterhelper.WithQueue(cfg.QueueConfig),
	)
	if err != nil {
		tel.Shutdown()
		return nil, fmt.Errorf("session exporter: build records queue: %w", err)
	}

	return exporterhelper.NewTraces(ctx, set, cfg, e.consumeTraces,
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		// Spans go straight into the in-memory assembler: no queue, retry or
		// timeout on this side; the sink side has them.
		exporterhelper.WithQueue(configoptional.None[exporterhelper.QueueBatchConfig]()),
		exporterhelper.WithRetry(configretry.BackOffConfig{Enabled: false}),
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{}),
	)
}

// newSink builds the configured sink. A new sink type is added here and in
// Config (a section and a Sink name).
func newSink(cfg *Config, set component.TelemetrySettings) (sink.Sink, error) {
	switch cfg.Sink {
	case SinkFile:
		return sink.NewFile(cfg.File), nil
	case SinkHTTP:
		return sink.NewHTTP(cfg.HTTP, set), nil
	case SinkPostgres:
		return postgres.New(cfg.Postgres, set.Logger), nil
	default:
		return nil, fmt.Errorf("session exporter: unknown sink %q", cfg.Sink)
	}
}

func (e *sessionExporter) start(ctx context.Context, host component.Host) error {
	if err := e.records.Start(ctx, host); err != nil {
		return fmt.Errorf("session exporter: start sink: %w", err)
	}
	e.run, e.cancelRun = context.WithCancel(context.Background())
	if e.cfg.StorageID != nil {
		if err := e.startPersistence(ctx, host); err != nil {
			return errors.Join(fmt.Errorf("session exporter: %w", err), e.records.Shutdown(ctx))
		}
	} else {
		e.logger.Info("No storage extension configured: buffered sessions are lost if the collector crashes")
	}
	e.stop, e.done = make(chan struct{}), make(chan struct{})
	go e.tick(e.cfg.tickInterval())
	return nil
}

// tick advances the assembler's clock until shutdown.
func (e *sessionExporter) tick(every time.Duration) {
	defer close(e.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.mu.Lock()
			res := e.asm.Tick(e.now())
			e.setBuffered()
			c := e.settle(&res)
			e.mu.Unlock()
			e.commit(e.run, c, e.emit(e.run, res))
		}
	}
}

func (e *sessionExporter) bufferedSessions() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, _ := e.asm.Buffered()
	return n
}

func (e *sessionExporter) setBuffered() {
	sessions, spans := e.asm.Buffered()
	e.tel.SetBuffered(sessions, spans)
}

// consumeTraces buffers the spans. Bad spans are counted, and records
// flushed at a limit go to the sink queue. It fails only when a storage
// extension is configured and the spans could not be written to it: the
// receiver then reports a retryable error, so no sender is told that spans
// which are not durable were accepted.
func (e *sessionExporter) consumeTraces(ctx context.Context, td ptrace.Traces) error {
	e.mu.Lock()
	res := e.asm.Add(td, e.now())
	var werr error
	if e.wal != nil {
		werr = e.wal.appendSpans(ctx, td, e.asm)
	}
	e.setBuffered()
	c := e.settle(&res)
	e.mu.Unlock()
	// Records flushed at a limit are queued even if the sender gives up
	// waiting (a full queue with block_on_overflow blocks here): they are
	// built and their session released, so this is their only way out. Only
	// Shutdown interrupts the wait.
	e.commit(e.run, c, e.emit(e.run, res))
	if werr != nil {
		e.tel.StorageFailures.Add(ctx, 1, attrOpAppend)
		e.logger.Error("Spans could not be written to storage; refused (the sender retries)", zap.Error(werr))
		return fmt.Errorf("session exporter: %w", werr)
	}
	return nil
}

func (e *sessionExporter) shutdown(ctx context.Context) error {
	e.cancelRun()
	if e.stop != nil {
		close(e.stop)
		<-e.done
		e.stop = nil
	}
	if e.wal != nil {
		// With storage, buffered sessions are not cut short: they stay in
		// storage and carry on after the next start, so a restart does not
		// split a running session into a partial record and a conflicting
		// later one.
		e.logger.Info("Buffered sessions kept in storage for the next start", zap.Int("sessions", e.bufferedSessions()))
		err := errors.Join(e.records.Shutdown(ctx), e.wal.close(ctx))
		e.tel.Shutdown()
		if err != nil {
			return fmt.Errorf("session exporter: shutdown: %w", err)
		}
		return nil
	}
	e.mu.Lock()
	res := e.asm.Drain(e.now())
	e.setBuffered()
	c := e.settle(&res)
	e.mu.Unlock()
	// e.run is cancelled: the drained records are queued if there is room,
	// room is never waited for (a full queue at shutdown means the sink is
	// down); records that find it full are counted, and kept in storage if
	// configured.
	ectx := e.run
	if !e.cfg.QueueConfig.HasValue() {
		ectx = ctx // no queue: the drain writes to the sink itself, within ctx
	}
	e.commit(ctx, c, e.emit(ectx, res))
	err := e.records.Shutdown(ctx)
	e.tel.Shutdown()
	if err != nil {
		return fmt.Errorf("session exporter: shutdown: %w", err)
	}
	return nil
}

var (
	attrReasonMissingID = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "missing_id")))
	attrReasonDuplicate = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "duplicate")))
	attrReasonLate      = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "late")))
	attrKindPermanent   = metric.WithAttributeSet(attribute.NewSet(attribute.String("kind", "permanent")))
	attrKindRetryable   = metric.WithAttributeSet(attribute.NewSet(attribute.String("kind", "retryable")))
	attrKindEnqueue     = metric.WithAttributeSet(attribute.NewSet(attribute.String("kind", "enqueue")))
	attrOpAppend        = metric.WithAttributeSet(attribute.NewSet(attribute.String("op", "append")))
	attrOpCommit        = metric.WithAttributeSet(attribute.NewSet(attribute.String("op", "commit")))
)

// emit counts what the assembler reported and queues its records. It
// reports whether every record that could be encoded was queued.
func (e *sessionExporter) emit(ctx context.Context, res assembler.Result) bool {
	tel := e.tel
	add := func(c metric.Int64Counter, n int, opt metric.AddOption) {
		if n > 0 {
			c.Add(ctx, int64(n), opt)
		}
	}
	add(tel.SpansDropped, res.MalformedSpans, attrReasonMissingID)
	add(tel.SpansDropped, res.DuplicateSpans, attrReasonDuplicate)
	add(tel.SpansDropped, res.LateSpans, attrReasonLate)
	if res.BadTimestamps > 0 {
		tel.SpansBadTime.Add(ctx, int64(res.BadTimestamps))
	}
	if res.IgnoredTraces > 0 {
		tel.TracesIgnored.Add(ctx, int64(res.IgnoredTraces))
	}
	if res.LateSpans > 0 {
		e.logger.Warn("Spans arrived after their session was released; dropped",
			zap.Int("spans", res.LateSpans))
	}
	if len(res.Records) == 0 {
		return true
	}

	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	lrs.EnsureCapacity(len(res.Records))
	ids := make([]string, 0, len(res.Records))
	var enc record.Encoder
	for i := range res.Records {
		r := &res.Records[i]
		e.countEmitted(ctx, r)
		b, err := enc.Encode(r)
		if err != nil {
			tel.SinkFailures.Add(ctx, 1, attrKindPermanent)
			e.logger.Error("Session record could not be encoded; dropped",
				zap.String("session_id", r.SessionID), zap.Int("revision", r.Revision), zap.Error(err))
			continue
		}
		appendRecord(lrs, r.SessionID, r.Revision, b)
		ids = append(ids, r.SessionID)
	}
	if len(ids) == 0 {
		return true
	}
	if err := e.records.ConsumeLogs(ctx, ld); err != nil {
		tel.SinkFailures.Add(ctx, int64(len(ids)), attrKindEnqueue)
		msg := "Session records could not be queued for the sink; dropped"
		if e.wal != nil {
			msg = "Session records could not be queued for the sink; their spans stay in storage and are emitted again at the next start"
		}
		e.logger.Error(msg, zap.Strings("session_ids", ids), zap.Error(err))
		return false
	}
	return true
}

// emittedKey identifies the attribute set of a sessions_emitted data point.
type emittedKey struct {
	endState, flushReason string
	complete              bool
}

// countEmitted records the telemetry of one emitted record.
func (e *sessionExporter) countEmitted(ctx context.Context, r *record.Record) {
	tel := e.tel
	k := emittedKey{r.EndState, r.FlushReason, r.Complete}
	e.attrMu.Lock()
	opt, ok := e.emittedAttrs[k]
	if !ok {
		opt = metric.WithAttributeSet(attribute.NewSet(attribute.String("end_state", r.EndState),
			attribute.Bool("complete", r.Complete), attribute.String("flush_reason", r.FlushReason)))
		e.emittedAttrs[k] = opt
	}
	e.attrMu.Unlock()
	tel.SessionsEmitted.Add(ctx, 1, opt)
	if r.Revision > 0 {
		tel.Revisions.Add(ctx, 1)
	} else {
		tel.SessionDuration.Record(ctx, r.DurationMs/1e3, metric.WithAttributeSet(attribute.NewSet(attribute.String("end_state", r.EndState))))
	}
	if r.Partial() {
		tel.PartialFlushes.Add(ctx, 1, metric.WithAttributes(attribute.String("flush_reason", r.FlushReason)))
	}
}

// pushRecords is the records exporter's consumer: it hands a batch to the
// sink and accounts for the outcome.
func (e *sessionExporter) pushRecords(ctx context.Context, ld plog.Logs) error {
	recs := fromLogs(ld)
	if len(recs) == 0 {
		return nil
	}
	err := e.sink.Write(ctx, recs)
	var rejected *sink.Rejected
	switch {
	case err == nil:
		e.tel.RecordsWritten.Add(ctx, int64(len(recs)))
		return nil
	case consumererror.IsPermanent(err) && errors.As(err, &rejected):
		if stored := len(recs) - len(rejected.SessionIDs); stored > 0 {
			e.tel.RecordsWritten.Add(ctx, int64(stored))
		}
		e.tel.SinkFailures.Add(ctx, int64(len(rejected.SessionIDs)), attrKindPermanent)
		e.logger.Error("Sink rejected session records permanently; dropped",
			zap.Strings("session_ids", rejected.SessionIDs), zap.Error(err))
	case consumererror.IsPermanent(err):
		e.tel.SinkFailures.Add(ctx, int64(len(recs)), attrKindPermanent)
		e.logger.Error("Sink rejected session records permanently; dropped",
			zap.Strings("session_ids", sessionIDs(recs)), zap.Error(err))
	default:
		e.tel.SinkFailures.Add(ctx, int64(len(recs)), attrKindRetryable)
		e.logger.Warn("Sink write failed; will retry",
			zap.Strings("session_ids", sessionIDs(recs)), zap.Error(err))
	}
	return err
}

func sessionIDs(recs []record.Encoded) []string {
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.SessionID
	}
	return ids
}

// startPersistence opens the storage client, replays what a previous run
// left in it and queues what the replay emitted.
func (e *sessionExporter) startPersistence(ctx context.Context, host component.Host) error {
	p, err := newPersister(ctx, host, *e.cfg.StorageID, e.id)
	if err != nil {
		return err
	}
	e.mu.Lock()
	res, st, err := p.load(ctx, e.asm, e.now())
	if err != nil {
		e.mu.Unlock()
		return errors.Join(err, p.close(ctx))
	}
	e.wal = p
	e.setBuffered()
	c := e.settle(&res)
	e.mu.Unlock()
	if st.Sessions > st.Emitted {
		e.tel.SessionsRestored.Add(ctx, int64(st.Sessions-st.Emitted), metric.WithAttributes(attribute.Bool("emitted", false)))
	}
	if st.Emitted > 0 {
		e.tel.SessionsRestored.Add(ctx, int64(st.Emitted), metric.WithAttributes(attribute.Bool("emitted", true)))
	}
	if st.Entries > 0 {
		e.logger.Info("Restored buffered sessions from storage",
			zap.Int("sessions", st.Sessions), zap.Int("already_emitted", st.Emitted), zap.Int("entries", st.Entries))
	}
	e.commit(ctx, c, e.emit(ctx, res))
	return nil
}

// settle computes the storage updates of an assembler result; called under
// mu, it returns the zero commit without storage.
func (e *sessionExporter) settle(res *assembler.Result) walCommit {
	if e.wal == nil {
		return walCommit{}
	}
	return e.wal.settle(res)
}

// commit writes c once the result's records were queued (or not).
func (e *sessionExporter) commit(ctx context.Context, c walCommit, queued bool) {
	if c.empty() {
		return
	}
	e.mu.Lock()
	err := e.wal.apply(context.WithoutCancel(ctx), c, queued)
	e.mu.Unlock()
	if err != nil {
		e.tel.StorageFailures.Add(ctx, 1, attrOpCommit)
		e.logger.Warn("Storage not updated after emission; after a crash these sessions would be emitted again",
			zap.Error(err))
	}
}
