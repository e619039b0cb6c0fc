package assembler

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/testgen"
	"github.com/crewtrace/crewtrace/record"
	"github.com/crewtrace/crewtrace/semconv"
)

// NaN and ±Inf are legal OTLP doubles but not JSON: the session must still
// get a record, with the values kept as strings.
func TestNonFiniteDoublesStillGiveARecord(t *testing.T) {
	td := testgen.Golden()
	rs := td.ResourceSpans().At(0)
	rs.Resource().Attributes().PutDouble("host.load", math.NaN())
	root := rs.ScopeSpans().At(0).Spans().At(0)
	require.Positive(t, root.Events().Len())
	ea := root.Events().At(0).Attributes()
	ea.PutDouble(semconv.EventParamPrefix+"score", math.Inf(1))
	ea.PutEmptySlice(semconv.EventParamPrefix + "range").FromRaw([]any{math.Inf(-1), 1.5})

	got, _ := run(t, testConfig(), []step{
		{at: 0, add: []ptrace.Traces{td}},
		{at: grace, tick: true},
	})
	require.Len(t, got.Records, 1)
	r := got.Records[0]
	assert.Equal(t, "NaN", r.Resource["host.load"])
	require.NotEmpty(t, r.Events)
	var params map[string]any
	for _, ev := range r.Events {
		if ev.Params["score"] != nil {
			params = ev.Params
		}
	}
	require.NotNil(t, params, "the event with the non-finite params is in the record")
	assert.Equal(t, "+Inf", params["score"])
	assert.Equal(t, []any{"-Inf", 1.5}, params["range"])

	_, err := record.Encode(&r)
	assert.NoError(t, err, "the record encodes as JSON")
}
