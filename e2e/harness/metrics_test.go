package harness

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const exposition = `# HELP otelcol_exporter_queue_size Current size of the retry queue
# TYPE otelcol_exporter_queue_size gauge
otelcol_exporter_queue_size{exporter="session/records",service_name="x"} 3
otelcol_exporter_queue_size{exporter="otlp_grpc/jaeger",service_name="x"} 4
otelcol_exporter_session_sink_failures_total{kind="retryable"} 2
otelcol_exporter_session_sink_failures_total{kind="permanent"} 5
otelcol_exporter_session_sessions_buffered 7
otelcol_exporter_session_sessions_buffered_extra 100
broken_line{a="b"} notanumber
`

func TestScrape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(exposition))
	}))
	defer srv.Close()
	ctx := context.Background()

	v, ok, err := ScrapeMetric(ctx, srv.URL, "otelcol_exporter_queue_size", map[string]string{"exporter": "session/records"})
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, 3.0, v, "only the sample whose labels match")

	v, ok, err = ScrapeMetric(ctx, srv.URL, "otelcol_exporter_session_sessions_buffered", nil)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, 7.0, v, "a metric sharing the name as a prefix is not summed in")

	_, ok, err = ScrapeMetric(ctx, srv.URL, "otelcol_exporter_queue_size", map[string]string{"exporter": "nope"})
	require.NoError(t, err)
	assert.False(t, ok)

	m, err := ScrapeMetrics(ctx, srv.URL)
	require.NoError(t, err)
	assert.Equal(t, 7.0, m["otelcol_exporter_queue_size"], "summed over label sets")
	got, ok := m.Get("otelcol_exporter_session_sink_failures")
	assert.True(t, ok)
	assert.Equal(t, 7.0, got, "Get finds the _total name")
	_, ok = m["broken_line"]
	assert.False(t, ok, "a sample whose value is not a number is passed over")

	_, _, err = ScrapeMetric(ctx, srv.URL+"/missing-host-part\x7f", "x", nil)
	assert.Error(t, err)
}
