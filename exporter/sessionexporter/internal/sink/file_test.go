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
	assert.NoError(t, (&FileConfig{Path: "x", Mode: 0o640, DirectoryMode: 0o700}).Validate())
	err := (&FileConfig{MaxMegabytes: -1, MaxBackups: -1, Mode: 600, DirectoryMode: 0o4750}).Validate()
	assert.ErrorContains(t, err, "file.path must not be empty")
	assert.ErrorContains(t, err, "file.max_megabytes must not be negative")
	assert.ErrorContains(t, err, "file.max_backups must not be negative")
	assert.ErrorContains(t, err, "file.mode must be permission bits in octal such as 0600, got 1130", "600 in decimal")
	assert.ErrorContains(t, err, "file.directory_mode must be permission bits in octal such as 0750, got 4750")
}

func TestPermissionsReadAsOctal(t *testing.T) {
	for in, want := range map[string]Permissions{"0600": 0o600, "600": 0o600, "0o640": 0, "750": 0o750} {
		var p Permissions
		err := p.UnmarshalText([]byte(in))
		if want == 0 {
			assert.Error(t, err, in)
			continue
		}
		require.NoError(t, err, in)
		assert.Equal(t, want, p, in)
	}
	assert.Equal(t, "0600", Permissions(0o600).String())
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	require.NoError(t, err)
	return st.Mode().Perm()
}

// Records say what crews did: by default only the collector's user reads
// them, and the directories it creates are closed to others.
func TestFileSinkCreatesPrivateFiles(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	path := filepath.Join(root, "a", "b", "sessions.jsonl")
	s := NewFile(FileConfig{Path: path, MaxMegabytes: 1, MaxBackups: 1})
	require.NoError(t, s.Start(ctx, componenttest.NewNopHost()))
	for i := range 3 { // the third rotates
		require.NoError(t, s.Write(ctx, []record.Encoded{rec(fmt.Sprint(i), 2<<20/5)}))
	}
	require.NoError(t, s.Shutdown(ctx))
	assert.Equal(t, os.FileMode(0o600), mode(t, path))
	assert.Equal(t, os.FileMode(0o600), mode(t, path+".1"), "rotated files keep it")
	assert.Equal(t, os.FileMode(0o750), mode(t, filepath.Join(root, "a")))
	assert.Equal(t, os.FileMode(0o750), mode(t, filepath.Join(root, "a", "b")))

	// Configurable; and a file left wider by an earlier version is narrowed.
	other := filepath.Join(root, "c", "sessions.jsonl")
	require.NoError(t, os.MkdirAll(filepath.Dir(other), 0o755))
	require.NoError(t, os.WriteFile(other, nil, 0o644))
	s = NewFile(FileConfig{Path: other, Mode: 0o640, DirectoryMode: 0o700})
	require.NoError(t, s.Start(ctx, componenttest.NewNopHost()))
	require.NoError(t, s.Shutdown(ctx))
	assert.Equal(t, os.FileMode(0o640), mode(t, other))
	assert.Equal(t, os.FileMode(0o755), mode(t, filepath.Dir(other)), "an existing directory is left as it is")
}

// A rotation that fails (here: path.1 is a directory in the way) is a
// retryable error, never a sink stuck for good: once the cause is gone,
// the next write rotates and every record is written.
func TestFileSinkRecoversAfterFailedRotation(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sessions.jsonl")
	s := NewFile(FileConfig{Path: path, MaxMegabytes: 1, MaxBackups: 1})
	require.NoError(t, s.Start(ctx, componenttest.NewNopHost()))
	size := 2 << 20 / 5
	require.NoError(t, s.Write(ctx, []record.Encoded{rec("0", size), rec("1", size)}))

	blocker := path + ".1"
	require.NoError(t, os.MkdirAll(filepath.Join(blocker, "x"), 0o700))
	for range 3 {
		err := s.Write(ctx, []record.Encoded{rec("2", size)})
		require.Error(t, err, "the rotation fails")
		assert.False(t, consumererror.IsPermanent(err), "and is retryable: %v", err)
	}
	require.NoError(t, os.RemoveAll(blocker))
	require.NoError(t, s.Write(ctx, []record.Encoded{rec("2", size)}), "the retry after the cause is gone")
	require.NoError(t, s.Write(ctx, []record.Encoded{rec("3", size)}))
	require.NoError(t, s.Shutdown(ctx))
	assert.Equal(t, []string{"0", "1"}, readLines(t, path+".1"))
	assert.Equal(t, []string{"2", "3"}, readLines(t, path))
}

// A failed write (here the file's descriptor is closed under the sink, as
// an I/O error would leave it) is retryable; the next write opens the file
// again and appends.
func TestFileSinkReopensAfterFailedWrite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sessions.jsonl")
	s := NewFile(FileConfig{Path: path})
	require.NoError(t, s.Start(ctx, componenttest.NewNopHost()))
	require.NoError(t, s.Write(ctx, []record.Encoded{rec("a", 100)}))
	require.NoError(t, s.f.Close())
	err := s.Write(ctx, []record.Encoded{rec("b", 100)})
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err), "retryable: %v", err)
	require.NoError(t, s.Write(ctx, []record.Encoded{rec("b", 100)}))

	// The directory removed under it: created again.
	require.NoError(t, s.f.Close())
	require.NoError(t, os.RemoveAll(filepath.Dir(path)))
	require.Error(t, s.Write(ctx, []record.Encoded{rec("c", 100)}))
	require.NoError(t, s.Write(ctx, []record.Encoded{rec("c", 100)}))
	require.NoError(t, s.Shutdown(ctx))
	assert.Equal(t, []string{"c"}, readLines(t, path))
	err = s.Write(ctx, []record.Encoded{rec("d", 100)})
	assert.True(t, consumererror.IsPermanent(err), "after Shutdown nothing is written: %v", err)
}

// A last line cut by a failed write or a crash is ended when the file is
// opened, so the next record starts a line of its own.
func TestFileSinkEndsACutLastLine(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sessions.jsonl")
	whole := string(rec("a", 100).JSON)
	require.NoError(t, os.WriteFile(path, []byte(whole+"\n"+whole[:40]), 0o600))
	s := NewFile(FileConfig{Path: path})
	require.NoError(t, s.Start(ctx, componenttest.NewNopHost()))
	require.NoError(t, s.Write(ctx, []record.Encoded{rec("b", 100)}))
	require.NoError(t, s.Shutdown(ctx))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	require.Len(t, lines, 3)
	assert.Equal(t, whole, lines[0])
	assert.Equal(t, whole[:40], lines[1], "the cut line stays apart")
	assert.Equal(t, string(rec("b", 100).JSON), lines[2])
}
