package sessionexporter

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/metadata"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/testgen"
	"github.com/crewtrace/crewtrace/record"
)

// batchSink records the size of every write and the records written.
type batchSink struct {
	mu      sync.Mutex
	sizes   []int
	written map[string]int
}

func (*batchSink) Start(context.Context, component.Host) error { return nil }
func (*batchSink) Shutdown(context.Context) error              { return nil }

func (s *batchSink) Write(_ context.Context, recs []record.Encoded) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sizes = append(s.sizes, len(recs))
	for _, r := range recs {
		s.written[r.SessionID]++
	}
	return nil
}

func (s *batchSink) snapshot() (sizes []int, written int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.sizes...), len(s.written)
}

// One tick that emits more sessions than maxRecordsPerRequest hands each
// sink requests of at most that many records — a sink writes a request at
// once within `timeout`, so an unbounded one could time out on every retry —
// and every record reaches every sink exactly once.
func TestEmissionSplitIntoBoundedRequests(t *testing.T) {
	const n = 2*maxRecordsPerRequest + 37
	cfg := testConfig(t)
	cfg.MaxSessions = 2 * n
	clock := &fakeClock{t: time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC)}
	sinks := []*batchSink{{written: map[string]int{}}, {written: map[string]int{}}}
	exp, err := newTracesExporterWithSinks(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg, clock.Now,
		[]namedSink{{"one", sinks[0]}, {"two", sinks[1]}})
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	for i := range n {
		require.NoError(t, exp.ConsumeTraces(context.Background(), testgen.Session(i, 3)))
	}
	clock.Advance(testGrace) // the next tick emits all n at once
	for _, s := range sinks {
		require.Eventually(t, func() bool { _, w := s.snapshot(); return w == n }, 10*time.Second, 5*time.Millisecond)
	}
	require.NoError(t, exp.Shutdown(context.Background()))
	for k, s := range sinks {
		sizes, _ := s.snapshot()
		total := 0
		for _, size := range sizes {
			assert.LessOrEqual(t, size, maxRecordsPerRequest, "sink %d", k)
			total += size
		}
		assert.Equal(t, n, total, "sink %d: every record once", k)
		assert.GreaterOrEqual(t, len(sizes), 3, "sink %d", k)
		for id, c := range s.written {
			assert.Equal(t, 1, c, "sink %d, session %s", k, id)
		}
	}
}
