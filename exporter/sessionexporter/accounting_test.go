package sessionexporter

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/metadata"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/sink"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/testgen"
	"github.com/crewtrace/crewtrace/record"
	"github.com/crewtrace/crewtrace/semconv"
)

// rejectingSink writes every record except those of the sessions in bad,
// which it refuses one by one while writing the rest of the batch (what the
// store sinks do with a record the database refuses), or, with whole set,
// refuses every batch holding one as a whole (what an HTTP 400 does).
type rejectingSink struct {
	bad   map[string]bool
	whole bool

	mu      sync.Mutex
	written map[string]int
}

func (*rejectingSink) Start(context.Context, component.Host) error { return nil }
func (*rejectingSink) Shutdown(context.Context) error              { return nil }

func (s *rejectingSink) Write(_ context.Context, recs []record.Encoded) error {
	var refused []string
	for _, r := range recs {
		if s.bad[r.SessionID] {
			refused = append(refused, r.SessionID)
		}
	}
	if s.whole && len(refused) > 0 {
		return consumererror.NewPermanent(errors.New("batch refused"))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		if !s.bad[r.SessionID] {
			s.written[r.SessionID]++
		}
	}
	if len(refused) > 0 {
		return consumererror.NewPermanent(&sink.Rejected{SessionIDs: refused, Err: errors.New("value out of range")})
	}
	return nil
}

// sumWhere sums the data points of a counter whose attributes hold key=value.
func (h *harness) sumWhere(t *testing.T, name string, kv attribute.KeyValue) int64 {
	t.Helper()
	m, err := h.tel.GetMetric(name)
	if err != nil {
		return 0
	}
	var n int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		if v, ok := dp.Attributes.Value(kv.Key); ok && v == kv.Value {
			n += dp.Value
		}
	}
	return n
}

// exporterhelper's counters of the records queue. Only the records exporter
// (session[/name]_records) counts log records: the traces side counts spans.
const (
	metricSent       = "otelcol_exporter_sent_log_records"
	metricSendFailed = "otelcol_exporter_send_failed_log_records"
)

// A batch in which the sink refuses some records and writes the others is
// counted record by record in the exporter's metrics, and exporterhelper's
// counters of the records queue agree: it counts the batch as sent (the
// sink answered for every record), never as all dropped.
func TestPartialRejectionCountedExactly(t *testing.T) {
	sk := &rejectingSink{bad: map[string]bool{testgen.SessionID(1): true, testgen.SessionID(4): true}, written: map[string]int{}}
	h := startWithSink(t, testConfig(t), sk)
	for i := range 6 {
		h.consume(t, testgen.Session(i, 4))
	}
	h.clock.Advance(testGrace)
	require.Eventually(t, func() bool {
		return h.sum(t, metadata.MetricRecordsWritten)+h.sum(t, metadata.MetricSinkFailures, attribute.String("kind", "rejected")) == 6
	}, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, h.exp.Shutdown(context.Background()))

	assert.Len(t, sk.written, 4, "the rest of the batch is written")
	assert.Equal(t, int64(4), h.sum(t, metadata.MetricRecordsWritten))
	assert.Equal(t, int64(2), h.sum(t, metadata.MetricSinkFailures, attribute.String("kind", "rejected")))
	assert.Zero(t, h.sum(t, metadata.MetricSinkFailures, attribute.String("kind", "permanent")))
	sent := h.sumAll(t, metricSent)
	assert.Equal(t, int64(6), sent, "exporterhelper: the batch was answered for, not all dropped")
	assert.Equal(t, sent, h.sum(t, metadata.MetricRecordsWritten)+h.sum(t, metadata.MetricSinkFailures, attribute.String("kind", "rejected")),
		"sent = records_written + sink_failures{kind=rejected}")
	assert.Zero(t, h.sumAll(t, metricSendFailed))
	entries := h.logs.FilterMessage("Sink refused session records (the rest of their batch is written); dropped").All()
	require.NotEmpty(t, entries)
	var logged int64
	for _, e := range entries {
		logged += e.ContextMap()["records"].(int64)
	}
	assert.Equal(t, int64(2), logged)
}

// A batch the sink refuses as a whole is dropped; exporterhelper counts it
// as failed permanently, the exporter as sink_failures{kind=permanent}: the
// same number.
func TestWholeBatchRejectionCountedExactly(t *testing.T) {
	sk := &rejectingSink{bad: map[string]bool{testgen.SessionID(2): true}, whole: true, written: map[string]int{}}
	h := startWithSink(t, testConfig(t), sk)
	for i := range 3 {
		h.consume(t, testgen.Session(i, 4))
	}
	h.clock.Advance(testGrace)
	require.Eventually(t, func() bool {
		return h.sum(t, metadata.MetricSinkFailures, attribute.String("kind", "permanent")) == 3
	}, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, h.exp.Shutdown(context.Background()))

	assert.Empty(t, sk.written)
	assert.Zero(t, h.sum(t, metadata.MetricRecordsWritten))
	assert.Zero(t, h.sumAll(t, metricSent))
	assert.Equal(t, int64(3), h.sumWhere(t, metricSendFailed, attribute.Bool("error.permanent", true)))
}

// End states are whatever a client writes. A record keeps its end state as
// given; the metrics count it as "other" unless it is Success, Fail or
// Indeterminate, so 1 KB end states never become labels.
func TestEndStatesOutsideTheThreeCountedAsOther(t *testing.T) {
	cfg := testConfig(t)
	h := start(t, cfg)
	const n = 40
	for i := range n {
		td := testgen.Session(i, 3)
		root := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
		root.Attributes().PutStr(string(semconv.SessionEndStateKey), strings.Repeat("x", 1000)+testgen.SessionID(i))
		h.consume(t, td)
	}
	h.consume(t, testgen.Session(n, 3)) // Success
	h.clock.Advance(testGrace)
	require.Eventually(t, func() bool { return h.sum(t, metadata.MetricRecordsWritten) == n+1 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, h.exp.Shutdown(context.Background()))

	states := map[string]int64{}
	m, err := h.tel.GetMetric(metadata.MetricSessionsEmitted)
	require.NoError(t, err)
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		v, _ := dp.Attributes.Value("end_state")
		states[v.AsString()] += dp.Value
	}
	assert.Equal(t, map[string]int64{"other": n, "Success": 1}, states)
	m, err = h.tel.GetMetric(metadata.MetricSessionDuration)
	require.NoError(t, err)
	assert.Len(t, m.Data.(metricdata.Histogram[float64]).DataPoints, 2, "duration by end state class: other and Success")

	recs := readRecords(t, cfg.File.Get().Path)
	require.Len(t, recs, n+1)
	for _, r := range recs {
		if r.SessionID != testgen.SessionID(n) {
			assert.Equal(t, strings.Repeat("x", 1000)+r.SessionID, r.EndState, "the record keeps the end state as given")
		}
	}
}

// A retried or dropped batch is logged with its size and at most three
// session IDs, each cut to 64 bytes: a client's IDs can be kilobytes.
func TestLogsNameCountAndFewCutIDs(t *testing.T) {
	srv := &recordServer{fail: -1, status: 503, stored: map[string]int{}, seen: map[string]int{}}
	h := httpHarness(t, srv)
	long := strings.Repeat("k", 5000)
	for i := range 10 {
		h.consume(t, testgen.Hostile(i, long+testgen.SessionID(i), 0))
	}
	h.clock.Advance(testGrace)
	require.Eventually(t, func() bool {
		return len(h.logs.FilterMessage("Sink write failed; will retry").All()) > 0
	}, 10*time.Second, 5*time.Millisecond)
	e := h.logs.FilterMessage("Sink write failed; will retry").All()[0]
	assert.Equal(t, int64(10), e.ContextMap()["records"])
	ids := e.ContextMap()["session_ids"].([]any)
	assert.Len(t, ids, 3)
	for _, id := range ids {
		assert.Equal(t, strings.Repeat("k", 64)+"…(5036 bytes)", id)
	}
	for _, entry := range h.logs.All() {
		assert.Less(t, len(entry.Message)+len(entry.ContextMap()), 1000)
		for k, v := range entry.ContextMap() {
			if s, ok := v.(string); ok {
				assert.Less(t, len(s), 1000, "log field %s of %q", k, entry.Message)
			}
		}
	}
}

// The limits on client values are counted when they act, and the buffer's
// accounted bytes are reported and stay within max_bytes.
func TestValueLimitsCounted(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxAttributeBytes = 256
	cfg.MaxEventsPerSpan = 4
	cfg.MaxBytes = 1 << 20
	h := start(t, cfg)
	h.consume(t, testgen.Hostile(0, strings.Repeat("v", 100_000), 10))
	assert.Positive(t, h.sum(t, metadata.MetricBytesBuffered))
	assert.LessOrEqual(t, h.sum(t, metadata.MetricBytesBuffered), cfg.MaxBytes)
	h.clock.Advance(testGrace)
	require.Eventually(t, func() bool { return h.sum(t, metadata.MetricRecordsWritten) == 1 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, h.exp.Shutdown(context.Background()))

	assert.Equal(t, int64(6), h.sum(t, metadata.MetricEventsDropped), "10 events on the root, 4 kept")
	cut := h.sum(t, metadata.MetricValuesTruncated)
	assert.Positive(t, cut)
	recs := readRecords(t, cfg.File.Get().Path)
	require.Len(t, recs, 1)
	require.NotNil(t, recs[0].Truncated)
	assert.Equal(t, record.Truncated{Values: int(cut), Events: 6}, *recs[0].Truncated, "the record marker and the metrics agree")
	assert.LessOrEqual(t, len(recs[0].Name), 256)
}
