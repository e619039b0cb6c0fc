package sessionexporter // import "github.com/crewtrace/crewtrace/exporter/sessionexporter"

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/assembler"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/buffer"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/metadata"
	"github.com/crewtrace/crewtrace/semconv"
)

// sessionExporter is the pipeline. Each step is one call on the buffer,
// whose batch emit turns into telemetry and queued records:
//
//	Start ─────────▶ buffer.Restore ─┐
//	ConsumeTraces ─▶ buffer.Add ─────┤                                   ┌▶ records exporter ─▶ sink (file)
//	ticker ────────▶ buffer.Tick ────┼─▶ Batch ─▶ emit: telemetry; ─────┼▶ records exporter ─▶ sink (sqlite)
//	Shutdown ──────▶ buffer.Drain ───┘            records, encoded once └▶ …   (exporterhelper queue, retry, timeout per sink)
//	                                                │
//	                                                └─▶ buffer.Commit, once every sink's queue has them
//
// The buffer (internal/buffer) owns the assembler and, with a storage
// extension, the log that makes buffered sessions survive a crash. Each
// configured sink has a records exporter of its own (sinks.go): an
// exporterhelper logs exporter used as a typed queue, where each emitted
// record travels as one log record whose body is the record's JSON. This
// gives every sink exporterhelper's queue, batching, retry, timeout and
// persistent storage (sending_queue.storage) without a hand-written queue,
// and one sink that is down fills its own queue only. Sessions are assembled
// and records encoded once, whatever the number of sinks.
type sessionExporter struct {
	cfg    *Config
	id     component.ID
	logger *zap.Logger
	tel    *metadata.TelemetryBuilder
	now    func() time.Time

	buf   *buffer.Buffer
	sinks []*sinkQueue // one per configured sink, in Config.sinks order

	stop chan struct{}
	done chan struct{}
	// run is cancelled when Shutdown starts, so that an emission waiting for
	// room in a full queue (block_on_overflow) gives up instead of hanging
	// the shutdown.
	run       context.Context
	cancelRun context.CancelFunc

	// fragment names this collector run in every record (scale_out); ""
	// without scale_out.
	fragment string
	// holds are the ConsumeTraces calls waiting for their traces' records
	// (scale_out, hold.go); nil without scale_out.
	holds *holds

	// emitted holds the attribute sets of sessions_emitted, one per
	// (end state class, flush reason, complete): a fixed table, so no client
	// string ever becomes a label and nothing grows.
	emitted emissionAttrs
}

// newTracesExporter builds the exporter; now is its clock.
func newTracesExporter(ctx context.Context, set exporter.Settings, cfg *Config, now func() time.Time) (exporter.Traces, error) {
	return newTracesExporterWithSinks(ctx, set, cfg, now, nil)
}

// newTracesExporterWithSinks builds the exporter writing to sinks, or to
// the configured sinks when sinks is nil (tests put sinks of theirs there).
func newTracesExporterWithSinks(ctx context.Context, set exporter.Settings, cfg *Config, now func() time.Time, sinks []namedSink) (exporter.Traces, error) {
	prices, err := cfg.Pricing.table()
	if err != nil {
		return nil, fmt.Errorf("session exporter: %w", err)
	}
	if prices != nil {
		set.Logger.Info("Pricing LLM calls", zap.String("price_table", prices.Version()))
	}
	e := &sessionExporter{
		cfg:    cfg,
		id:     set.ID,
		logger: set.Logger,
		now:    now,

		emitted:   newEmissionAttrs(),
		run:       context.Background(),
		cancelRun: func() {},
		buf: buffer.New(assembler.Config{
			GracePeriod:      cfg.GracePeriod,
			SessionTimeout:   cfg.SessionTimeout,
			MaxSessions:      cfg.MaxSessions,
			MaxSpans:         cfg.MaxSpans,
			MaxBytes:         cfg.MaxBytes,
			MaxValueBytes:    cfg.MaxAttributeBytes,
			MaxEventsPerSpan: cfg.MaxEventsPerSpan,
			MaxRecordSpans:   cfg.MaxRecordSpans,
			IncludeRootless:  cfg.IncludeRootless,
			TraceURLBase:     cfg.TraceURLBase,
			Prices:           prices,
		}),
	}
	if so := cfg.ScaleOut.Get(); so != nil {
		e.fragment = fragmentName(so.Instance, set.Resource)
		e.holds = newHolds()
	}
	e.tel, err = metadata.NewTelemetryBuilder(set.TelemetrySettings, e.buf.Occupancy)
	if err != nil {
		return nil, err
	}
	if sinks == nil {
		sinks = configuredSinks(cfg, set.TelemetrySettings)
	}
	if len(sinks) == 0 {
		e.tel.Shutdown()
		return nil, errors.New("session exporter: no sink section set")
	}
	for _, ns := range sinks {
		q, err := e.newSinkQueue(ctx, set, ns)
		if err != nil {
			e.tel.Shutdown()
			return nil, err
		}
		e.sinks = append(e.sinks, q)
	}

	return exporterhelper.NewTraces(ctx, set, cfg, e.consumeTraces,
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		// Spans go straight into the in-memory buffer: no queue, retry or
		// timeout on this side; the sink side has them.
		exporterhelper.WithQueue(configoptional.None[exporterhelper.QueueBatchConfig]()),
		exporterhelper.WithRetry(configretry.BackOffConfig{Enabled: false}),
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{}),
	)
}

func (e *sessionExporter) start(ctx context.Context, host component.Host) error {
	if err := e.startSinks(ctx, host); err != nil {
		return err
	}
	e.run, e.cancelRun = context.WithCancel(context.Background())
	if e.cfg.StorageID != nil {
		if err := e.restore(ctx, host, *e.cfg.StorageID); err != nil {
			return errors.Join(fmt.Errorf("session exporter: %w", err), e.shutdownSinks(ctx))
		}
	} else {
		e.logger.Info("No storage extension configured: buffered sessions are lost if the collector crashes")
	}
	e.stop, e.done = make(chan struct{}), make(chan struct{})
	go e.tick(e.cfg.tickInterval())
	return nil
}

// restore opens the exporter's client of the storage extension id, has the
// buffer replay what a previous run left in it, and emits what the replay
// emitted.
func (e *sessionExporter) restore(ctx context.Context, host component.Host, id component.ID) error {
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return fmt.Errorf("storage extension %q not found", id)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return fmt.Errorf("extension %q is not a storage extension", id)
	}
	client, err := se.GetClient(ctx, component.KindExporter, e.id, buffer.ClientName)
	if err != nil {
		return fmt.Errorf("storage extension %q: get client: %w", id, err)
	}
	b, err := e.buf.Restore(ctx, client, e.now())
	if err != nil {
		return fmt.Errorf("storage extension %q: %w", id, err)
	}
	st := b.Restored
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
	e.emit(ctx, b)
	return nil
}

// tick advances the buffer's clock until shutdown.
func (e *sessionExporter) tick(every time.Duration) {
	defer close(e.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.emit(e.run, e.buf.Tick(e.now()))
		}
	}
}

// consumeTraces buffers the spans. Bad spans are counted, and records
// flushed at a limit go to the sink queue. It fails only when a storage
// extension is configured and the spans could not be written to it: the
// receiver then reports a retryable error, so no sender is told that spans
// which are not durable were accepted.
func (e *sessionExporter) consumeTraces(ctx context.Context, td ptrace.Traces) error {
	if e.holds != nil {
		return e.consumeHeld(ctx, td)
	}
	b, err := e.buf.Add(ctx, td, e.now())
	// Records flushed at a limit are queued even if the sender gives up
	// waiting (a full queue with block_on_overflow blocks here): they are
	// built and their session released, so this is their only way out. Only
	// Shutdown interrupts the wait.
	e.emit(e.run, b)
	if err != nil {
		e.tel.StorageFailures.Add(ctx, 1, attrOpAppend)
		e.logger.Error("Spans could not be written to storage; refused (the sender retries)", zap.Error(err))
		return fmt.Errorf("session exporter: %w", err)
	}
	return nil
}

// consumeHeld is consumeTraces with scale_out: it returns once every trace
// of td is settled (hold.go), or with an error when ctx ends first (the
// spans stay buffered and are written with their trace; the sender, the
// kafka receiver, does not mark the message, and the partition's next
// owner reads it again).
func (e *sessionExporter) consumeHeld(ctx context.Context, td ptrace.Traces) error {
	var w *hold
	b, err := e.buf.AddHolding(ctx, td, e.now(), func(step uint64, pending []pcommon.TraceID) {
		w = e.holds.add(step, pending)
	})
	e.emit(e.run, b)
	if err != nil {
		if w != nil {
			e.holds.cancel(w)
		}
		e.tel.StorageFailures.Add(ctx, 1, attrOpAppend)
		e.logger.Error("Spans could not be written to storage; refused (the sender retries)", zap.Error(err))
		return fmt.Errorf("session exporter: %w", err)
	}
	if w == nil {
		return nil
	}
	select {
	case <-w.done:
		if w.err != nil {
			return fmt.Errorf("session exporter: %w", w.err)
		}
		return nil
	case <-ctx.Done():
		e.holds.cancel(w)
		return fmt.Errorf("session exporter: stopped waiting for the trace's record (its spans stay buffered): %w", context.Cause(ctx))
	}
}

func (e *sessionExporter) shutdown(ctx context.Context) error {
	e.cancelRun()
	if e.stop != nil {
		close(e.stop)
		<-e.done
		e.stop = nil
	}
	if e.holds != nil {
		// Receivers have stopped; a call still waiting gets an error, so
		// its message is not marked.
		e.holds.close()
	}
	if e.buf.Durable() {
		// With storage, buffered sessions are not cut short: they stay in
		// storage and carry on after the next start, so a restart does not
		// split a running session into a partial record and a conflicting
		// later one.
		sessions, _ := e.buf.Buffered()
		e.logger.Info("Buffered sessions kept in storage for the next start", zap.Int("sessions", sessions))
		err := errors.Join(e.shutdownSinks(ctx), e.buf.Close(ctx))
		e.tel.Shutdown()
		if err != nil {
			return fmt.Errorf("session exporter: shutdown: %w", err)
		}
		return nil
	}
	// e.run is cancelled: the drained records are queued if there is room,
	// room is never waited for (a full queue at shutdown means the sink is
	// down); records that find it full are counted.
	ectx := e.run
	if !e.cfg.QueueConfig.HasValue() {
		ectx = ctx // no queue: the drain writes to the sink itself, within ctx
	}
	e.emit(ectx, e.buf.Drain(e.now()))
	err := e.shutdownSinks(ctx)
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
	attrOpAppend        = metric.WithAttributeSet(attribute.NewSet(attribute.String("op", "append")))
	attrOpCommit        = metric.WithAttributeSet(attribute.NewSet(attribute.String("op", "commit")))
)

// emit counts what a buffer step reported, queues its records and commits
// the step once they are queued (or could not be).
func (e *sessionExporter) emit(ctx context.Context, b buffer.Batch) {
	e.countDrops(ctx, &b.Result)
	queued := e.enqueue(ctx, b.Records)
	if err := e.buf.Commit(ctx, b, queued); err != nil {
		e.tel.StorageFailures.Add(ctx, 1, attrOpCommit)
		e.logger.Warn("Storage not updated after emission; after a crash these sessions would be emitted again",
			zap.Error(err))
	}
	if e.holds != nil {
		e.holds.settle(b.Step, settledTraces(&b.Result))
	}
}

// settledTraces returns the traces a step emitted a record of or released.
func settledTraces(res *assembler.Result) []pcommon.TraceID {
	if len(res.Records) == 0 && len(res.Released) == 0 {
		return nil
	}
	out := make([]pcommon.TraceID, 0, len(res.Records)+len(res.Released))
	for i := range res.Records {
		var tid pcommon.TraceID
		if n, err := hex.Decode(tid[:], []byte(res.Records[i].TraceID)); err == nil && n == len(tid) {
			out = append(out, tid)
		}
	}
	return append(out, res.Released...)
}

// fragmentName is the fragment every record of this run carries: the
// instance name (scale_out.instance, else the collector's
// service.instance.id, else the host name) and 8 hex digits drawn now, so
// that a restarted collector's records never overwrite those of its
// previous run at an equal revision.
func fragmentName(instance string, res pcommon.Resource) string {
	if instance == "" {
		if v, ok := res.Attributes().Get(string(semconv.ServiceInstanceIDKey)); ok {
			instance = v.AsString()
		}
	}
	if instance == "" {
		instance, _ = os.Hostname()
	}
	var nonce [4]byte
	_, _ = rand.Read(nonce[:])
	return instance + "/" + hex.EncodeToString(nonce[:])
}

// countDrops counts the spans and traces a step did not keep.
func (e *sessionExporter) countDrops(ctx context.Context, res *assembler.Result) {
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
	if res.TruncatedValues > 0 {
		tel.ValuesTruncated.Add(ctx, int64(res.TruncatedValues))
	}
	if res.DroppedEvents > 0 {
		tel.EventsDropped.Add(ctx, int64(res.DroppedEvents))
	}
	if res.LateSpans > 0 {
		e.logger.Warn("Spans arrived after their session was released; dropped",
			zap.Int("spans", res.LateSpans))
	}
}
