package metadata

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"
)

// Metric names, as listed in metadata.yaml and documentation.md.
const (
	MetricSessionsEmitted  = "otelcol_exporter_session_sessions_emitted"
	MetricRevisions        = "otelcol_exporter_session_revisions"
	MetricPartialFlushes   = "otelcol_exporter_session_partial_flushes"
	MetricSpansBuffered    = "otelcol_exporter_session_spans_buffered"
	MetricSessionsBuffered = "otelcol_exporter_session_sessions_buffered"
	MetricTracesIgnored    = "otelcol_exporter_session_traces_ignored"
	MetricSpansDropped     = "otelcol_exporter_session_spans_dropped"
	MetricSpansBadTime     = "otelcol_exporter_session_spans_bad_timestamp"
	MetricRecordsWritten   = "otelcol_exporter_session_records_written"
	MetricSinkFailures     = "otelcol_exporter_session_sink_failures"
	MetricSessionDuration  = "otelcol_exporter_session_session_duration"
	MetricStorageFailures  = "otelcol_exporter_session_storage_failures"
	MetricSessionsRestored = "otelcol_exporter_session_sessions_restored"
	MetricBytesBuffered    = "otelcol_exporter_session_bytes_buffered"
	MetricValuesTruncated  = "otelcol_exporter_session_values_truncated"
	MetricEventsDropped    = "otelcol_exporter_session_events_dropped"
)

// TelemetryBuilder holds the exporter's instruments. The buffered gauges
// read the buffer's occupancy when they are collected.
type TelemetryBuilder struct {
	SessionsEmitted  metric.Int64Counter
	Revisions        metric.Int64Counter
	PartialFlushes   metric.Int64Counter
	TracesIgnored    metric.Int64Counter
	SpansDropped     metric.Int64Counter
	SpansBadTime     metric.Int64Counter
	RecordsWritten   metric.Int64Counter
	SinkFailures     metric.Int64Counter
	SessionDuration  metric.Float64Histogram
	StorageFailures  metric.Int64Counter
	SessionsRestored metric.Int64Counter
	ValuesTruncated  metric.Int64Counter
	EventsDropped    metric.Int64Counter

	registration metric.Registration
}

// Shutdown unregisters the gauge callback.
func (tb *TelemetryBuilder) Shutdown() {
	if tb.registration != nil {
		_ = tb.registration.Unregister()
		tb.registration = nil
	}
}

// NewTelemetryBuilder creates the instruments on the component's
// MeterProvider; buffered reports the traces and spans held and their
// accounted bytes, for the gauges.
func NewTelemetryBuilder(set component.TelemetrySettings, buffered func() (sessions, spans int, bytes int64)) (*TelemetryBuilder, error) {
	m := set.MeterProvider.Meter(ScopeName)
	tb := &TelemetryBuilder{}
	var errs, err error
	tb.SessionsEmitted, err = m.Int64Counter(MetricSessionsEmitted,
		metric.WithDescription("Session records emitted, by end state class (Success, Fail, Indeterminate, other), completeness and flush reason (revisions included)."),
		metric.WithUnit("{sessions}"))
	errs = errors.Join(errs, err)
	tb.Revisions, err = m.Int64Counter(MetricRevisions,
		metric.WithDescription("Session records emitted with revision > 0 (a span arrived after the session was emitted)."),
		metric.WithUnit("{records}"))
	errs = errors.Join(errs, err)
	tb.PartialFlushes, err = m.Int64Counter(MetricPartialFlushes,
		metric.WithDescription("Sessions emitted before they were known to be finished, by flush reason (limit, shutdown)."),
		metric.WithUnit("{sessions}"))
	errs = errors.Join(errs, err)
	tb.TracesIgnored, err = m.Int64Counter(MetricTracesIgnored,
		metric.WithDescription("Traces without a session root and without crewtrace attributes, dropped (include_rootless: false)."),
		metric.WithUnit("{traces}"))
	errs = errors.Join(errs, err)
	tb.SpansDropped, err = m.Int64Counter(MetricSpansDropped,
		metric.WithDescription("Spans not buffered, by reason: missing_id, duplicate, late (session already released)."),
		metric.WithUnit("{spans}"))
	errs = errors.Join(errs, err)
	tb.SpansBadTime, err = m.Int64Counter(MetricSpansBadTime,
		metric.WithDescription("Spans kept with unusable timestamps (zero, end before start, beyond year 2200)."),
		metric.WithUnit("{spans}"))
	errs = errors.Join(errs, err)
	tb.RecordsWritten, err = m.Int64Counter(MetricRecordsWritten,
		metric.WithDescription("Session records written by the sink, per sink."),
		metric.WithUnit("{records}"))
	errs = errors.Join(errs, err)
	tb.SinkFailures, err = m.Int64Counter(MetricSinkFailures,
		metric.WithDescription("Records in failed sink writes, by kind: retryable (will be retried), permanent (dropped with their batch), rejected (refused one by one by the sink, the rest of the batch written; dropped), enqueue (could not be queued)."),
		metric.WithUnit("{records}"))
	errs = errors.Join(errs, err)
	tb.SessionDuration, err = m.Float64Histogram(MetricSessionDuration,
		metric.WithDescription("Duration of emitted sessions (first revision only), by end state class."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600))
	errs = errors.Join(errs, err)
	tb.StorageFailures, err = m.Int64Counter(MetricStorageFailures,
		metric.WithDescription("Failed writes to the storage extension (storage configured), by op: append (spans refused, the sender retries), commit (marker or deletion not written)."),
		metric.WithUnit("{operations}"))
	errs = errors.Join(errs, err)
	tb.SessionsRestored, err = m.Int64Counter(MetricSessionsRestored,
		metric.WithDescription("Sessions reloaded from the storage extension at start, by whether their record had already been queued before the restart."),
		metric.WithUnit("{sessions}"))
	errs = errors.Join(errs, err)
	tb.ValuesTruncated, err = m.Int64Counter(MetricValuesTruncated,
		metric.WithDescription("Strings (attribute values and keys, event fields, tags) cut to max_attribute_bytes when their span was read."),
		metric.WithUnit("{values}"))
	errs = errors.Join(errs, err)
	tb.EventsDropped, err = m.Int64Counter(MetricEventsDropped,
		metric.WithDescription("Session events dropped from spans that carried more than max_events_per_span."),
		metric.WithUnit("{events}"))
	errs = errors.Join(errs, err)
	bytesBuffered, err := m.Int64ObservableGauge(MetricBytesBuffered,
		metric.WithDescription("Bytes held by the assembler as it accounts them, the figure max_bytes bounds."),
		metric.WithUnit("By"))
	errs = errors.Join(errs, err)
	spansBuffered, err := m.Int64ObservableGauge(MetricSpansBuffered,
		metric.WithDescription("Span summaries held by the assembler (pending and retained sessions)."),
		metric.WithUnit("{spans}"))
	errs = errors.Join(errs, err)
	sessionsBuffered, err := m.Int64ObservableGauge(MetricSessionsBuffered,
		metric.WithDescription("Traces held by the assembler (pending and retained sessions)."),
		metric.WithUnit("{sessions}"))
	errs = errors.Join(errs, err)
	if errs != nil {
		return nil, fmt.Errorf("create session exporter telemetry: %w", errs)
	}
	tb.registration, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		sessions, spans, bytes := buffered()
		o.ObserveInt64(spansBuffered, int64(spans))
		o.ObserveInt64(sessionsBuffered, int64(sessions))
		o.ObserveInt64(bytesBuffered, bytes)
		return nil
	}, spansBuffered, sessionsBuffered, bytesBuffered)
	if err != nil {
		return nil, fmt.Errorf("register session exporter gauges: %w", err)
	}
	return tb, nil
}
