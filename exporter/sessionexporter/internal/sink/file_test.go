package sink

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/crewtrace/crewtrace/record"
)

// rec returns an encoded record whose JSON line is exactly size bytes.
func rec(id string, size int) record.Encoded {
	head := fmt.Sprintf(`{"session_id":%q,"pad":"`, id)
	pad := size - len(head) - 2
	return record.Encoded{SessionID: id, JSON: []byte(head + strings.Repeat("x", pad) + `"}`)}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	var ids []string
	for _, line := range strings.Split(s, "\n") {
		ids = append(ids, line[len(`{"session_id":"`):strings.Index(line, `","pad"`)])
	}
	return ids
}

func TestFileAppendsLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "sessions.jsonl")
	s := NewFile(FileConfig{Path: path})
	ctx := context.Background()
	require.NoError(t, s.Start(ctx, componenttest.NewNopHost()))
	require.NoError(t, s.Write(ctx, []record.Encoded{rec("a", 100), rec("b", 100)}))
	require.NoError(t, s.Write(ctx, []record.Encoded{rec("c", 100)}))
	require.NoError(t, s.Shutdown(ctx))
	assert.Equal(t, []string{"a", "b", "c"}, readLines(t, path))

	// Reopening appends.
	s = NewFile(FileConfig{Path: path})
	require.NoError(t, s.Start(ctx, componenttest.NewNopHost()))
	require.NoError(t, s.Write(ctx, []record.Encoded{rec("d", 100)}))
	require.NoError(t, s.Shutdown(ctx))
	assert.Equal(t, []string{"a", "b", "c", "d"}, readLines(t, path))
}

func TestFileRotation(t *testing.T) {
	const mb = 1 << 20
	path := filepath.Join(t.TempDir(), "sessions.jsonl")
	s := NewFile(FileConfig{Path: path, MaxMegabytes: 1, MaxBackups: 2})
	ctx := context.Background()
	require.NoError(t, s.Start(ctx, componenttest.NewNopHost()))
	// Lines of 0.4 MB (+ newline): two fit in 1 MB, the third rotates.
	size := 2 * mb / 5
	for i := 0; i < 7; i++ {
		require.NoError(t, s.Write(ctx, []record.Encoded{rec(fmt.Sprint(i), size)}))
	}
	require.NoError(t, s.Shutdown(ctx))

	assert.Equal(t, []string{"6"}, readLines(t, path))
	assert.Equal(t, []string{"4", "5"}, readLines(t, path+".1"))
	assert.Equal(t, []string{"2", "3"}, readLines(t, path+".2"))
	assert.NoFileExists(t, path+".3", "max_backups bounds the rotated files")
	for _, p := range []string{path, path + ".1", path + ".2"} {
		st, err := os.Stat(p)
		require.NoError(t, err)
		assert.LessOrEqual(t, st.Size(), int64(mb))
	}
}

func TestFileRotationInsideBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.jsonl")
	s := NewFile(FileConfig{Path: path, MaxMegabytes: 1, MaxBackups: 0})
	ctx := context.Background()
	require.NoError(t, s.Start(ctx, componenttest.NewNopHost()))
	size := 2 << 20 / 5
	require.NoError(t, s.Write(ctx, []record.Encoded{rec("a", size), rec("b", size), rec("c", size)}))
	require.NoError(t, s.Shutdown(ctx))
	assert.Equal(t, []string{"c"}, readLines(t, path), "without backups the rotated file is removed")
	assert.NoFileExists(t, path+".1")
}

func TestFileErrors(t *testing.T) {
	ctx := context.Background()
	s := NewFile(FileConfig{Path: filepath.Join(t.TempDir(), "x.jsonl")})
	err := s.Write(ctx, []record.Encoded{rec("a", 50)})
	assert.True(t, consumererror.IsPermanent(err), "writing before Start is a permanent error")
	assert.NoError(t, s.Shutdown(ctx), "shutdown without start")

	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(blocker, nil, 0o644))
	s = NewFile(FileConfig{Path: filepath.Join(blocker, "sessions.jsonl")})
	assert.ErrorContains(t, s.Start(ctx, componenttest.NewNopHost()), "file sink")
}

func TestFileConfigValidate(t *testing.T) {
	assert.NoError(t, (&FileConfig{Path: "x"}).Validate())
	err := (&FileConfig{MaxMegabytes: -1, MaxBackups: -1}).Validate()
	assert.ErrorContains(t, err, "file.path must not be empty")
	assert.ErrorContains(t, err, "file.max_megabytes must not be negative")
	assert.ErrorContains(t, err, "file.max_backups must not be negative")
}
