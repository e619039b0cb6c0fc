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

	_ struct{}
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
	return errs
}

// File appends records as JSON lines to a file, rotating it by size.
type File struct {
	cfg     FileConfig
	maxSize int64

	mu   sync.Mutex
	f    *os.File
	size int64
	buf  []byte
}

// fileBufferSize is the write buffer: a batch is written in chunks of this
// size (a longer line grows the buffer).
const fileBufferSize = 64 << 10

// NewFile returns a file sink; the file is opened by Start.
func NewFile(cfg FileConfig) *File {
	return &File{cfg: cfg, maxSize: int64(cfg.MaxMegabytes) << 20}
}

// Start opens (or creates) the file for appending.
func (s *File) Start(context.Context, component.Host) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if dir := filepath.Dir(s.cfg.Path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("file sink: create directory: %w", err)
		}
	}
	return s.open()
}

func (s *File) open() error {
	f, err := os.OpenFile(s.cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("file sink: open %s: %w", s.cfg.Path, err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("file sink: stat %s: %w", s.cfg.Path, err)
	}
	s.f, s.size = f, st.Size()
	return nil
}

// Write appends the records, one line each. A batch is written with one
// write call; rotation happens between lines, never inside one.
func (s *File) Write(_ context.Context, recs []record.Encoded) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return consumererror.NewPermanent(errors.New("file sink: not started or already shut down"))
	}
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
