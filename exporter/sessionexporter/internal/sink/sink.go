// Package sink writes encoded session records to their destination.
//
// A Sink is driven by the exporter through exporterhelper's queue and retry:
// Write is called with a batch of records, possibly from several goroutines
// at once, and its error decides what happens to the batch:
//
//   - nil: the records are stored;
//   - an error wrapped with consumererror.NewPermanent: the records can never
//     be stored (rejected by the destination); they are counted, logged with
//     their session IDs and dropped, never retried;
//   - any other error: transient (destination down, timeout, 5xx); the batch
//     is retried with backoff. exporterhelper.NewThrottleRetry may be used to
//     honour a server's Retry-After;
//   - a *Rejected (wrapped with consumererror.NewPermanent): some records were
//     rejected permanently and all the others stored; only the rejected ones
//     are counted and logged as dropped.
//
// Records carry session_id and revision: a sink that stores records should
// keep, per session, the one with the highest revision, so that retries and
// replays are idempotent (an append-only sink such as the file sink writes
// every revision and leaves that to the reader).
//
// A new sink lives in its own file or subpackage (internal/sink/storesink),
// implements Sink, and has a config section of its own that validates itself
// completely; the exporter's Config holds it as an optional section and
// lists it in Config.sinks.
package sink

import (
	"context"
	"fmt"

	"go.opentelemetry.io/collector/component"

	"github.com/crewtrace/crewtrace/record"
)

// Sink stores session records. Implementations must be safe for concurrent
// use by Write; Start and Shutdown are called once each.
type Sink interface {
	// Start prepares the sink (open files, build clients, migrate schemas).
	Start(ctx context.Context, host component.Host) error
	// Write stores a batch of records; see the package doc for the error contract.
	Write(ctx context.Context, recs []record.Encoded) error
	// Shutdown flushes and releases resources. Write is not called after it.
	Shutdown(ctx context.Context) error
}

// Rejected reports a batch of which some records were rejected permanently
// while every other record was stored. Return it wrapped with
// consumererror.NewPermanent.
type Rejected struct {
	// SessionIDs holds the session ID of each rejected record.
	SessionIDs []string
	// Err says why.
	Err error
}

// Error implements error.
func (e *Rejected) Error() string {
	return fmt.Sprintf("%d session records rejected: %v", len(e.SessionIDs), e.Err)
}

// Unwrap returns the cause.
func (e *Rejected) Unwrap() error { return e.Err }
