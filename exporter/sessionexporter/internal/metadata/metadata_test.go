package metadata

import (
	"context"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

var allMetrics = []string{
	MetricSessionsEmitted, MetricRevisions, MetricPartialFlushes, MetricSpansBuffered,
	MetricSessionsBuffered, MetricTracesIgnored, MetricSpansDropped, MetricSpansBadTime,
	MetricRecordsWritten, MetricSinkFailures, MetricSessionDuration, MetricStorageFailures,
	MetricSessionsRestored, MetricBytesBuffered, MetricValuesTruncated, MetricEventsDropped,
}

// metadata.yaml is the source of truth this hand-written package mirrors.
func TestMatchesMetadataYAML(t *testing.T) {
	conf, err := confmaptest.LoadConf(filepath.Join("..", "..", "metadata.yaml"))
	require.NoError(t, err)
	assert.Equal(t, Type.String(), conf.Get("type"))
	metrics, err := conf.Sub("telemetry::metrics")
	require.NoError(t, err)
	var want []string
	for name := range metrics.ToStringMap() {
		want = append(want, "otelcol_"+name)
	}
	got := append([]string(nil), allMetrics...)
	sort.Strings(want)
	sort.Strings(got)
	assert.Equal(t, want, got)
}

func TestTelemetryBuilder(t *testing.T) {
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	tb, err := NewTelemetryBuilder(tel.NewTelemetrySettings(), func() (int, int, int64) { return 3, 42, 4096 })
	require.NoError(t, err)
	ctx := context.Background()
	tb.SessionsEmitted.Add(ctx, 1)
	tb.SessionDuration.Record(ctx, 1.5)

	m, err := tel.GetMetric(MetricSpansBuffered)
	require.NoError(t, err)
	assert.Equal(t, int64(42), m.Data.(metricdata.Gauge[int64]).DataPoints[0].Value)
	m, err = tel.GetMetric(MetricSessionsBuffered)
	require.NoError(t, err)
	assert.Equal(t, int64(3), m.Data.(metricdata.Gauge[int64]).DataPoints[0].Value)
	m, err = tel.GetMetric(MetricBytesBuffered)
	require.NoError(t, err)
	assert.Equal(t, int64(4096), m.Data.(metricdata.Gauge[int64]).DataPoints[0].Value)
	assert.Equal(t, "By", m.Unit)
	m, err = tel.GetMetric(MetricSessionDuration)
	require.NoError(t, err)
	assert.Equal(t, "s", m.Unit)

	tb.Shutdown()
	tb.Shutdown() // idempotent
	_, err = tel.GetMetric(MetricSpansBuffered)
	assert.Error(t, err, "gauges stop reporting after Shutdown")
}
