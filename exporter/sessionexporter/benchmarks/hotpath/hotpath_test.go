package hotpath

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain makes the test binary the collector when the harness starts it
// as one, so the smoke test needs no separate build.
func TestMain(m *testing.M) {
	MaybeRunCollector()
	os.Exit(m.Run())
}

func TestLoadSendsRootsAfterTheirChildren(t *testing.T) {
	l, err := NewLoad(30, 10, 64, 10)
	require.NoError(t, err)
	assert.Equal(t, 300, l.Spans())
	assert.Equal(t, 5, l.Requests(), "ceil(300/64) requests")
	_, err = NewLoad(0, 10, 64, 10)
	require.Error(t, err)
}

func TestSelectPipelinesKeepsTheReferences(t *testing.T) {
	ps, err := SelectPipelines(SessionFile)
	require.NoError(t, err)
	require.Len(t, ps, 3)
	assert.Equal(t, []string{Nop, GroupByTrace, SessionFile}, []string{ps[0].Name, ps[1].Name, ps[2].Name})
	_, err = SelectPipelines("session-nope")
	require.ErrorContains(t, err, `unknown pipeline "session-nope"`)
}

func TestSpreadAndRatios(t *testing.T) {
	assert.Equal(t, Spread{Median: 2, Min: 1, Max: 5, N: 3}, spreadOf([]float64{5, 1, 2}))
	assert.Equal(t, Spread{Median: 2.5, Min: 1, Max: 5, N: 4}, spreadOf([]float64{5, 1, 2, 3}))
	rs := []Result{
		{Pipeline: Nop, Round: 0, Spans: 100, CPU: time.Second},
		{Pipeline: GroupByTrace, Round: 0, Spans: 100, CPU: 4 * time.Second, PeakRSS: 400, BytesOut: 1000},
		{Pipeline: SessionFile, Round: 0, Spans: 100, CPU: 2 * time.Second, PeakRSS: 100, BytesOut: 250},
	}
	ps, err := SelectPipelines(SessionFile)
	require.NoError(t, err)
	sums := Summarise(ps, rs)
	require.Len(t, sums, 3)
	s := sums[2]
	assert.InDelta(t, 0.5, s.VsNop.Median, 1e-9)
	assert.InDelta(t, 2.0, s.VsGroupByTraceSpeed.Median, 1e-9)
	assert.InDelta(t, 0.25, s.VsGroupByTraceRSS.Median, 1e-9)
	assert.InDelta(t, 0.25, s.VsGroupByTraceOut.Median, 1e-9)
}

// TestSmoke runs every pipeline once on a small load through real collector
// processes (this test binary, started as the collector): each comes up,
// takes the load, writes everything (a record per session per sink; every
// span through groupbytrace), and the report has its figures.
func TestSmoke(t *testing.T) {
	self, err := os.Executable()
	require.NoError(t, err)
	load, err := NewLoad(200, 10, 500, 50)
	require.NoError(t, err)
	ps := Pipelines()
	o := Options{Collector: self, Dir: t.TempDir(), Load: load, Workers: 2, Grace: 200 * time.Millisecond,
		MaxSessions: 200, Pipelines: ps, Rounds: 1, Timeout: 2 * time.Minute, Log: t.Output()}
	results, err := Run(context.Background(), o)
	require.NoError(t, err)
	require.Len(t, results, len(ps))
	for _, r := range results {
		assert.Positive(t, r.CPU, r.Pipeline)
		assert.Positive(t, r.PeakRSS, r.Pipeline)
		if r.Pipeline != Nop {
			assert.Positive(t, r.BytesOut, r.Pipeline)
		}
		if r.Pipeline == SessionFileStore || r.Pipeline == SessionBothStored {
			assert.Positive(t, r.StorageBytes, r.Pipeline)
		}
	}
	var out bytes.Buffer
	WriteReport(&out, o, Summarise(ps, results))
	assert.Contains(t, out.String(), "| session-file-sqlite+storage |")
	assert.Contains(t, out.String(), "vs nop")
}

// TestProfiles checks that a profiled run leaves a CPU and an allocation
// profile of each session pipeline, and nothing for the references.
func TestProfiles(t *testing.T) {
	self, err := os.Executable()
	require.NoError(t, err)
	load, err := NewLoad(50, 10, 500, 50)
	require.NoError(t, err)
	ps, err := SelectPipelines(SessionFile)
	require.NoError(t, err)
	prof := t.TempDir()
	o := Options{Collector: self, Dir: t.TempDir(), Load: load, Grace: 100 * time.Millisecond,
		MaxSessions: 50, Pipelines: ps[2:], Rounds: 1, ProfileDir: prof, Timeout: 2 * time.Minute}
	_, err = Run(context.Background(), o)
	require.NoError(t, err)
	for _, kind := range []string{".cpu.pprof", ".allocs.pprof"} {
		st, err := os.Stat(prof + "/" + SessionFile + kind)
		require.NoError(t, err)
		assert.Positive(t, st.Size())
	}
	entries, err := os.ReadDir(prof)
	require.NoError(t, err)
	assert.Len(t, entries, 2)
}
