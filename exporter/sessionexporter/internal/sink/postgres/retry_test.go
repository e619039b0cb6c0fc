package postgres

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/crewtrace/crewtrace/record"
)

// TestDatabaseDownThenUpThroughRetry drives the sink the way the session
// exporter does — exporterhelper queue and retry in front of Write — while the
// database is stopped, then started again: every record ends up stored, once.
func TestDatabaseDownThenUpThroughRetry(t *testing.T) {
	db, pool := newDB(t)
	s := New(testConfig(db), nil)

	var failed, pushed atomic.Int64
	push := func(ctx context.Context, ld plog.Logs) error {
		var recs []record.Encoded
		lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
		for i := range lrs.Len() {
			lr := lrs.At(i)
			sid, _ := lr.Attributes().Get("session_id")
			rev, _ := lr.Attributes().Get("revision")
			recs = append(recs, record.Encoded{SessionID: sid.Str(), Revision: int(rev.Int()), JSON: lr.Body().Bytes().AsRaw()})
		}
		err := s.Write(ctx, recs)
		if err != nil {
			failed.Add(1)
		} else {
			pushed.Add(int64(len(recs)))
		}
		return err
	}
	queue := exporterhelper.NewDefaultQueueConfig()
	queue.BlockOnOverflow = true
	retry := configretry.NewDefaultBackOffConfig()
	retry.InitialInterval, retry.MaxInterval, retry.MaxElapsedTime = 10*time.Millisecond, 50*time.Millisecond, 0
	exp, err := exporterhelper.NewLogs(context.Background(),
		exportertest.NewNopSettings(component.MustNewType("session")), &struct{}{}, push,
		exporterhelper.WithStart(s.Start), exporterhelper.WithShutdown(s.Shutdown),
		exporterhelper.WithRetry(retry), exporterhelper.WithQueue(configoptional.Some(queue)))
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))

	send := func(from, to, revision int) {
		ld := plog.NewLogs()
		lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
		for i := from; i < to; i++ {
			e := enc(t, rec(fmt.Sprintf("s-%03d", i), revision))[0]
			lr := lrs.AppendEmpty()
			lr.Body().SetEmptyBytes().FromRaw(e.JSON)
			lr.Attributes().PutStr("session_id", e.SessionID)
			lr.Attributes().PutInt("revision", int64(e.Revision))
		}
		require.NoError(t, exp.ConsumeLogs(context.Background(), ld))
	}

	send(0, 50, 0)
	require.Eventually(t, func() bool { return pushed.Load() == 50 }, 20*time.Second, 10*time.Millisecond)

	require.NoError(t, srv.Stop())
	t.Cleanup(func() { _ = srv.Start() })
	send(50, 100, 0) // new sessions
	send(0, 25, 1)   // revisions of stored ones
	// Wait until the queue has tried, failed and retried while the database is down.
	require.Eventually(t, func() bool { return failed.Load() >= 3 }, 20*time.Second, 10*time.Millisecond)

	require.NoError(t, srv.Start())
	require.Eventually(t, func() bool { return pushed.Load() == 125 }, 30*time.Second, 10*time.Millisecond)
	require.NoError(t, exp.Shutdown(context.Background()))

	assert.Equal(t, int64(100), one[int64](t, pool, "SELECT count(*) FROM crewtrace_sessions"))
	assert.Equal(t, int64(25), one[int64](t, pool, "SELECT count(*) FROM crewtrace_sessions WHERE revision = 1"))
	assert.Equal(t, int64(100), one[int64](t, pool, "SELECT count(*) FROM crewtrace_session_agents"))
	assert.Equal(t, int64(0), s.Rejected())
}
