package benchmarks

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter"
)

// storageHost serves one file_storage extension.
type storageHost struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h storageHost) GetExtensions() map[component.ID]component.Component { return h.exts }

// sessionStoragePipeline is sessionPipeline with crash safety on: the
// buffered sessions (storage) and the records queue (sending_queue.storage)
// in a real file_storage (bbolt, no fsync: its default) in dir.
func sessionStoragePipeline(tb testing.TB, w workload, dir string, run int) string {
	ctx := context.Background()
	sf := filestorage.NewFactory()
	scfg := sf.CreateDefaultConfig().(*filestorage.Config)
	scfg.Directory = filepath.Join(dir, fmt.Sprintf("storage-%d", run))
	scfg.CreateDirectory = true
	ext, err := sf.Create(ctx, extensiontest.NewNopSettings(sf.Type()), scfg)
	require.NoError(tb, err)
	require.NoError(tb, ext.Start(ctx, componenttest.NewNopHost()))
	id := component.NewID(sf.Type())
	host := storageHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{id: ext}}

	f := sessionexporter.NewFactory()
	cfg := f.CreateDefaultConfig().(*sessionexporter.Config)
	cfg.File.GetOrInsertDefault().Path = filepath.Join(dir, fmt.Sprintf("sessions-%d.jsonl", run))
	cfg.MaxSessions = 2 * w.sessions
	cfg.GracePeriod = time.Millisecond
	cfg.StorageID = &id
	cfg.QueueConfig.Get().StorageID = &id
	set := exportertest.NewNopSettings(component.MustNewType("session"))
	set.ID = component.NewID(component.MustNewType("session"))
	exp, err := f.CreateTraces(ctx, set, cfg)
	require.NoError(tb, err)
	require.NoError(tb, exp.Start(ctx, host))
	w.feed(tb, exp)
	// A persistent queue is not flushed at shutdown (its records are written
	// at the next start), so wait for the sink to have every record, as the
	// in-memory pipeline's Shutdown does. The ticker emits every session
	// within a few milliseconds of its last span.
	deadline := time.Now().Add(30 * time.Second)
	for countLines(tb, cfg.File.Get().Path) < w.sessions {
		if time.Now().After(deadline) {
			tb.Fatalf("%d of %d records written", countLines(tb, cfg.File.Get().Path), w.sessions)
		}
		time.Sleep(2 * time.Millisecond)
	}
	require.NoError(tb, exp.Shutdown(ctx))
	require.NoError(tb, ext.Shutdown(ctx))
	return cfg.File.Get().Path
}

// TestStoragePipeline checks the storage pipeline delivers one record per
// session.
func TestStoragePipeline(t *testing.T) {
	w := newWorkload(t, 30, spansPerSession)
	require.Equal(t, w.sessions, countLines(t, sessionStoragePipeline(t, w, t.TempDir(), 0)), "one record per session")
}

// BenchmarkStorage compares the session exporter without and with
// file_storage on the same workload, in one run.
func BenchmarkStorage(b *testing.B) {
	b.Run("sessionexporter_file", func(b *testing.B) { benchPipeline(b, sessionPipeline) })
	b.Run("sessionexporter_file_storage", func(b *testing.B) { benchPipeline(b, sessionStoragePipeline) })
}
