package buffer

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/testgen"
)

func TestSplitByTrace(t *testing.T) {
	td := testgen.Merge(testgen.Session(1, 3), testgen.Session(2, 2), testgen.Session(3, 4))
	parts := splitByTrace(td, func(tid pcommon.TraceID) bool { return tid != testgen.TraceID(2) })
	require.Len(t, parts, 2)
	assert.Equal(t, testgen.TraceID(1), parts[0].tid)
	assert.Equal(t, 3, parts[0].td.SpanCount())
	assert.Equal(t, testgen.TraceID(3), parts[1].tid)
	assert.Equal(t, 4, parts[1].td.SpanCount())
	want := td.ResourceSpans().At(2).Resource().Attributes().AsRaw()
	assert.Equal(t, want, parts[1].td.ResourceSpans().At(0).Resource().Attributes().AsRaw())
}
