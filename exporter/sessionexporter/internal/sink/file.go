package sink

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/crewtrace/crewtrace/record"
)

// FileConfig configures the file sink.
type FileConfig struct {
	// Path is the JSONL file records are appended to, one per line.
	Path string `mapstructure:"path"`
	// MaxMegabytes rotates the file before it would exceed this size; 0 disables rotation.
	MaxMegabytes int `mapstructure:"max_megabytes"`
	// MaxBackups is how many rotated files (path.1 newest ... path.N) are kept.
	MaxBackups int `mapstructure:"max_backups"`
	// Mode is the permission of the record file, set whenever the sink opens
	// it (default 0600: records say what crews did, for the collector's user
	// only). Rotated files keep it.
	Mode Permissions `mapstructure:"mode"`
	// DirectoryMode is the permission of the directories the sink creates
	// for the file (default 0750); existing directories are left as they are.
	DirectoryMode Permissions `mapstructure:"directory_mode"`

	_ struct{}
}

// Default permissions of what the file sink creates.
const (
	DefaultFileMode      Permissions = 0o600
	DefaultDirectoryMode Permissions = 0o750
)

// Permissions is a Unix file mode's permission bits, written in octal:
// `0600` (a YAML octal number) or `"0600"` / `"600"` (a string, always
// read as octal). Zero means the default.
type Permissions uint32

// UnmarshalText reads a string as an octal number.
func (p *Permissions) UnmarshalText(b []byte) error {
	v, err := strconv.ParseUint(string(b), 8, 32)
	if err != nil {
		return fmt.Errorf("permissions %q: not an octal number such as 0600", b)
	}
	*p = Permissions(v)
	return nil
}

// String writes p in octal, as it is configured.
func (p Permissions) String() string { return fmt.Sprintf("%04o", uint32(p)) }

// or returns p, or def when p is zero.
func (p Permissions) or(def Permissions) os.FileMode {
	if p == 0 {
		return os.FileMode(def)
	}
	return os.FileMode(p)
}

// Validate checks the whole section. Every message names its key in full
// (the collector prefixes only the first line of a joined error with the
// section).
func (c *FileConfig) Validate() error {
	var errs error
	if c.Path == "" {
		errs = errors.Join(errs, errors.New("file.path must not be empty"))
	}
	if c.MaxMegabytes < 0 {
		errs = errors.Join(errs, fmt.Errorf("file.max_megabytes must not be negative, got %d", c.MaxMegabytes))
	}
	if c.MaxBackups < 0 {
		errs = errors.Join(errs, fmt.Errorf("file.max_backups must not be negative, got %d", c.MaxBackups))
	}
	// A mode written in decimal (mode: 600 is 0o1130) has bits beyond 0777.
	if c.Mode&^0o777 != 0 {
		errs = errors.Join(errs, fmt.Errorf("file.mode must be permission bits in octal such as 0600, got %s", c.Mode))
	}
	if c.DirectoryMode&^0o777 != 0 {
		errs = errors.Join(errs, fmt.Errorf("file.directory_mode must be permission bits in octal such as 0750, got %s", c.DirectoryMode))
	}
	return errs
}

// File appends records as JSON lines to a file, rotating it by size.
//
// It recovers from its own faults: when a write or a rotation fails, the
// file is closed and the batch is reported as a retryable error; the next
// write (exporterhelper's retry) opens the file again — creating its
// directory if it disappeared — and, if the last line was left cut by the
// failure (or by a crash), ends it first so the next record starts on a
// line of its own. A record is therefore never dropped for an I/O error; a
// batch written in part before the failure is written again whole (readers
// keep the highest revision per session_id, which makes that harmless).
type File struct {
	cfg     FileConfig
	maxSize int64
	mode    os.FileMode
	dirMode os.FileMode

	mu      sync.Mutex
	started bool // between Start and Shutdown
	f       *os.File
	size    int64
	buf     []byte
}

// fileBufferSize is the write buffer: a batch is written in chunks of this
// size (a longer line grows the buffer).
const fileBufferSize = 64 << 10

// NewFile returns a file sink; the file is opened by Start.
func NewFile(cfg FileConfig) *File {
	return &File{
		cfg:     cfg,
		maxSize: int64(cfg.MaxMegabytes) << 20,
		mode:    cfg.Mode.or(DefaultFileMode),
		dirMode: cfg.DirectoryMode.or(DefaultDirectoryMode),
	}
}

// Start opens (or creates) the file for appending.
func (s *File) Start(context.Context, component.Host) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.open(); err != nil {
		return err
	}
	s.started = true
	return nil
}

// open creates the file's directory if needed, opens the file for
// appending with the configured mode, and ends a cut last line.
func (s *File) open() error {
	if dir := filepath.Dir(s.cfg.Path); dir != "" {
		if err := os.MkdirAll(dir, s.dirMode); err != nil {
			return fmt.Errorf("file sink: create directory: %w", err)
		}
	}
	f, err := os.OpenFile(s.cfg.Path, os.O_RDWR|os.O_APPEND|os.O_CREATE, s.mode)
	if err != nil {
		return fmt.Errorf("file sink: open %s: %w", s.cfg.Path, err)
	}
	st, err := f.Stat()
	if err == nil && st.Mode().IsRegular() && st.Mode().Perm() != s.mode {
		// The umask narrows what OpenFile creates, and a file created by
		// an earlier version may be wider: the configured mode is what holds.
		err = f.Chmod(s.mode)
	}
	var size int64
	if err == nil {
		size = st.Size()
	}
	if err == nil && size > 0 && st.Mode().IsRegular() {
		var n int
		n, err = endLine(f, size)
		size += int64(n)
	}
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("file sink: open %s: %w", s.cfg.Path, err)
	}
	s.f, s.size = f, size
	return nil
}

// endLine appends a newline to a file of size bytes whose last byte is not
// one: a line cut by a failed write or a crash then stays a line of its own
// (which a reader can skip) instead of running into the next record.
// It returns the bytes it wrote.
func endLine(f *os.File, size int64) (int, error) {
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, size-1); err != nil {
		return 0, err
	}
	if last[0] == '\n' {
		return 0, nil
	}
	return f.Write([]byte{'\n'})
}

// Write appends the records, one line each. A batch is written with one
// write call; rotation happens between lines, never inside one. Every I/O
// failure is retryable (see File).
func (s *File) Write(_ context.Context, recs []record.Encoded) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		return consumererror.NewPermanent(errors.New("file sink: not started or already shut down"))
	}
	if s.f == nil {
		if err := s.open(); err != nil {
			return err
		}
	}
	if err := s.write(recs); err != nil {
		// Closed, so that the retry opens the file afresh.
		if s.f != nil {
			_ = s.f.Close()
			s.f = nil
		}
		return err
	}
	return nil
}

func (s *File) write(recs []record.Encoded) error {
	if s.buf == nil {
		s.buf = make([]byte, 0, fileBufferSize)
	}
	s.buf = s.buf[:0]
	for _, r := range recs {
		line := int64(len(r.JSON) + 1)
		if s.maxSize > 0 && s.size+int64(len(s.buf))+line > s.maxSize && s.size+int64(len(s.buf)) > 0 {
			if err := s.flush(); err != nil {
				return err
			}
			if err := s.rotate(); err != nil {
				return err
			}
		}
		if len(s.buf)+int(line) > cap(s.buf) {
			if err := s.flush(); err != nil {
				return err
			}
		}
		s.buf = append(s.buf, r.JSON...)
		s.buf = append(s.buf, '\n')
	}
	return s.flush()
}

func (s *File) flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	n, err := s.f.Write(s.buf)
	s.size += int64(n)
	s.buf = s.buf[:0]
	if err != nil {
		return fmt.Errorf("file sink: write %s: %w", s.cfg.Path, err)
	}
	return nil
}

// rotate renames path.(N-1)..path.1 one up, path to path.1, and reopens path.
// On failure the file is left closed (s.f nil) for Write to reopen.
func (s *File) rotate() error {
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("file sink: close for rotation: %w", err)
	}
	s.f = nil
	if s.cfg.MaxBackups == 0 {
		if err := os.Remove(s.cfg.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("file sink: rotate: %w", err)
		}
		return s.open()
	}
	for i := s.cfg.MaxBackups - 1; i >= 1; i-- {
		from := s.cfg.Path + "." + strconv.Itoa(i)
		if err := os.Rename(from, s.cfg.Path+"."+strconv.Itoa(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("file sink: rotate %s: %w", from, err)
		}
	}
	if err := os.Rename(s.cfg.Path, s.cfg.Path+".1"); err != nil {
		return fmt.Errorf("file sink: rotate %s: %w", s.cfg.Path, err)
	}
	return s.open()
}

// Shutdown closes the file. Every Write already handed its lines to the OS
// (write(2)), so a process crash loses nothing written; like fileexporter,
// the sink does not fsync.
func (s *File) Shutdown(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = false
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	if err != nil {
		return fmt.Errorf("file sink: close %s: %w", s.cfg.Path, err)
	}
	return nil
}
