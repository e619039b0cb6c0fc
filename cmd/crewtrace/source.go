package main

// Where `crewtrace sessions` reads from. Both kinds of source end in a
// store.Store, so a session is aggregated one way whatever the source:
//
//	--store DSN   the session store the collector's store sink writes
//	              (opened read-only: SQLite file or PostgreSQL)
//	--file PATH   a JSONL file the file sink writes: its records are loaded
//	              into a temporary embedded store (removed on exit), which
//	              keeps each trace's highest revision and merges a session's
//	              traces exactly as the collector's store does

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/crewtrace/crewtrace/record"
	"github.com/crewtrace/crewtrace/store"
)

// Errors of the sources, named so that a script can tell them apart in the
// message and a test with errors.Is.
var (
	// errSource: neither or both of --store and --file.
	errSource = errors.New("give one of --store <sqlite path | postgres DSN> or --file <records.jsonl>")
	// errStore: the store could not be opened (bad DSN, unreachable
	// database, missing file, no crewtrace schema).
	errStore = errors.New("cannot open the session store")
	// errFile: the JSONL file could not be read.
	errFile = errors.New("cannot read the session records file")
	// errSessionNotFound: no session with that ID in the source.
	errSessionNotFound = errors.New("session not found")
)

// loadBatch is how many records one store transaction takes when loading a
// file: large enough that a file of thousands loads in a few transactions.
const loadBatch = 500

// source is an open store, plus the file that feeds it for --file.
type source struct {
	st   *store.Store
	desc string // what to call it in messages (passwords masked)

	// For --file only.
	path    string
	offset  int64 // bytes of path consumed (whole lines only)
	line    int   // lines consumed
	tmpDir  string
	warnOut io.Writer
}

// openSource opens the store at dsn, or loads the JSONL file at path into a
// temporary embedded store. Lines of the file that are not records are
// reported on warn and skipped: the rest is still read.
func openSource(ctx context.Context, dsn, path string, warn io.Writer) (*source, error) {
	if (dsn == "") == (path == "") {
		return nil, fmt.Errorf("%w: %w", errUsage, errSource)
	}
	if dsn != "" {
		desc := redactDSN(dsn)
		st, err := store.Open(ctx, dsn, store.ReadOnly())
		if err != nil {
			return nil, fmt.Errorf("%w %s: %w", errStore, desc, err)
		}
		return &source{st: st, desc: desc}, nil
	}
	if fi, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w: %w", errFile, err)
	} else if fi.IsDir() {
		return nil, fmt.Errorf("%w: %s is a directory", errFile, path)
	}
	dir, err := os.MkdirTemp("", "crewtrace-sessions-")
	if err != nil {
		return nil, fmt.Errorf("%w: temporary store: %w", errFile, err)
	}
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "sessions.db"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%w: temporary store: %w", errFile, err)
	}
	s := &source{st: st, desc: path, path: path, tmpDir: dir, warnOut: warn}
	if err := s.refresh(ctx, true); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the store and removes a temporary one.
func (s *source) Close() error {
	err := s.st.Close()
	if s.tmpDir != "" {
		err = errors.Join(err, os.RemoveAll(s.tmpDir))
	}
	return err
}

// refresh loads the lines appended to the file since the last call (a no-op
// for a store). Only whole lines are read: the writer may be in the middle
// of the last one. With final set, a last line without its newline is read
// too when it holds a whole record (a file whose writer has gone).
func (s *source) refresh(ctx context.Context, final bool) error {
	if s.path == "" {
		return nil
	}
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("%w: %w", errFile, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() < s.offset {
		// The file was replaced or cut (rotated): read it from the start.
		// Records already loaded stay; a revision is never loaded twice.
		s.offset, s.line = 0, 0
	}
	if _, err := f.Seek(s.offset, io.SeekStart); err != nil {
		return fmt.Errorf("%w: %w", errFile, err)
	}
	r := bufio.NewReaderSize(f, 1<<16)
	var batch []record.Encoded
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := s.st.Write(ctx, batch)
		batch = batch[:0]
		var rej *store.Rejected
		if errors.As(err, &rej) {
			for _, rr := range rej.Records {
				fmt.Fprintf(s.warnOut, "crewtrace sessions: %s: record of session %s refused: %v\n",
					clean(s.path), clean(store.ShortID(rr.SessionID)), rr.Err)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: loading %s: %w", errFile, s.path, err)
		}
		return nil
	}
	for {
		b, err := r.ReadBytes('\n')
		whole := err == nil
		if err != nil && err != io.EOF {
			return fmt.Errorf("%w: %w", errFile, err)
		}
		if !whole && !(final && len(strings.TrimSpace(string(b))) > 0) {
			break
		}
		if !whole {
			// The unterminated last line: read only if it is a whole record.
			if _, derr := (record.Encoded{JSON: b}).Decode(); derr != nil {
				break
			}
		}
		s.offset += int64(len(b))
		s.line++
		if line := strings.TrimSpace(string(b)); line != "" {
			enc := record.Encoded{JSON: []byte(line)}
			rec, derr := enc.Decode()
			if derr != nil {
				fmt.Fprintf(s.warnOut, "crewtrace sessions: %s:%d: not a session record, skipped: %s\n",
					clean(s.path), s.line, clean(cut(derr.Error(), 200)))
			} else {
				enc.SessionID, enc.Revision = rec.SessionID, rec.Revision
				batch = append(batch, enc)
			}
		}
		if len(batch) >= loadBatch {
			if err := flush(); err != nil {
				return err
			}
		}
		if !whole {
			break
		}
	}
	return flush()
}

var (
	pgPassword  = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)
	urlPassword = regexp.MustCompile(`(?i)^(postgres(?:ql)?://[^:/@]*:)[^@]*@`)
)

// redactDSN masks the password of a PostgreSQL DSN (URL or key=value) so
// that it never reaches a terminal or a log.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return clean(u.Redacted())
	}
	// Not a URL that parses (the store will say why): mask what looks
	// like a password in either form.
	dsn = urlPassword.ReplaceAllString(dsn, "${1}xxxxx@")
	return clean(pgPassword.ReplaceAllString(dsn, "${1}xxxxx"))
}
