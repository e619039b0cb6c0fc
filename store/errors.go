package store

import (
	"errors"
	"fmt"
	"strings"
)

// Errors a caller can test with errors.Is.
var (
	// ErrPermanent marks a write error that no retry can fix: the records it
	// names are refused for good (see Rejected). Any other error from Write
	// is retryable: nothing of the batch may be assumed written, and writing
	// the same batch again is safe (writes are idempotent).
	ErrPermanent = errors.New("store: permanent error")
	// ErrNotFound is returned by Session for a session the store does not hold.
	ErrNotFound = errors.New("store: session not found")
	// ErrBadCursor is returned for a page or tail cursor that this store did
	// not issue, or that belongs to another sort order.
	ErrBadCursor = errors.New("store: invalid cursor")
	// ErrSchema is returned by Open with ReadOnly when the database has no
	// crewtrace schema, or one older than this package reads.
	ErrSchema = errors.New("store: schema missing or too old")
	// ErrReadOnly is returned by Write on a store opened with ReadOnly.
	ErrReadOnly = errors.New("store: opened read-only")
	// ErrInvalidQuery is returned for a query whose parameters are out of range.
	ErrInvalidQuery = errors.New("store: invalid query")
)

// Rejected is the error Write returns when some records can never be
// written: data the database refuses (SQLSTATE class 22 data exception,
// 23 constraint violation, 54 limit exceeded; SQLite's constraint, too-big
// and mismatch errors) or a record that does not decode. Every other record
// of the batch has been written. errors.Is(err, ErrPermanent) holds.
type Rejected struct {
	// Records are the refused records, in batch order.
	Records []RejectedRecord
	// Total is the number of records in the batch.
	Total int
}

// RejectedRecord is one refused record and why.
type RejectedRecord struct {
	// SessionID and TraceID are the record's, in full (they may be long:
	// Error shows them truncated).
	SessionID string
	TraceID   string
	// Revision is the record's revision.
	Revision int
	// Err is the cause.
	Err error
}

// maxIDInMessage bounds a session ID shown in an error message or log line.
const maxIDInMessage = 64

// ShortID returns id cut to 64 bytes, with its length when cut, for error
// messages and logs: client-chosen IDs can be megabytes long.
func ShortID(id string) string {
	if len(id) <= maxIDInMessage {
		return id
	}
	return fmt.Sprintf("%s…(%d bytes)", capBytes(id, maxIDInMessage), len(id))
}

// maxNamed is how many records a Rejected message names.
const maxNamed = 3

// Error counts the rejected records and names the first three, IDs cut.
func (r *Rejected) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "store: %d of %d records rejected", len(r.Records), r.Total)
	for i, rec := range r.Records {
		if i == maxNamed {
			fmt.Fprintf(&b, "; and %d more", len(r.Records)-maxNamed)
			break
		}
		fmt.Fprintf(&b, "; session %s revision %d: %v", ShortID(rec.SessionID), rec.Revision, rec.Err)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrPermanent) hold for a Rejected.
func (r *Rejected) Is(target error) bool { return target == ErrPermanent }

// Unwrap returns the causes, so errors.As finds a driver error in them.
func (r *Rejected) Unwrap() []error {
	errs := make([]error, len(r.Records))
	for i, rec := range r.Records {
		errs[i] = rec.Err
	}
	return errs
}

// SessionIDs returns the session IDs of the rejected records, in full.
func (r *Rejected) SessionIDs() []string {
	ids := make([]string, len(r.Records))
	for i, rec := range r.Records {
		ids[i] = rec.SessionID
	}
	return ids
}
