package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// OverviewQuery asks for an overview of the sessions that started in
// [From, To), in buckets of Step.
type OverviewQuery struct {
	From, To time.Time
	// Step is the bucket width (default one minute); (To-From)/Step is at
	// most MaxBuckets.
	Step time.Duration
	// Reasons is how many failure reasons to return (default 10, at most 100).
	Reasons int
}

// MaxBuckets bounds an overview's number of buckets.
const MaxBuckets = 10_000

// Overview summarises the sessions of a time range.
type Overview struct {
	From, To time.Time
	Step     time.Duration
	// Buckets holds one bucket per Step from From, all of them, empty or not.
	Buckets []Bucket
	// Totals over the range.
	Totals Counts
	// Durations are the nearest-rank percentiles of the durations of the
	// complete sessions (every trace's root received) that started in the range.
	Durations Percentiles
	// FailureReasons are the most frequent end reasons of failed sessions
	// (bounded forms, see Bounded), most frequent first.
	FailureReasons []ReasonCount
}

// Bucket is one step of an overview.
type Bucket struct {
	// Start is the bucket's start; it holds sessions that started in [Start, Start+Step).
	Start time.Time
	Counts
	// Concurrent is the number of sessions running at Start (started at or
	// before it, ended after it), whenever they started.
	Concurrent int64
}

// Counts counts sessions by end state and totals their tokens and events.
type Counts struct {
	Sessions, Success, Fail, Indeterminate int64
	// Complete counts sessions whose every trace's root span was received.
	Complete int64
	// Other counts end states outside Success, Fail and Indeterminate.
	Other int64
	// Errors counts sessions with at least one error.
	Errors int64
	// Tokens totals the sessions' tokens.
	Tokens int64
	// EventsRecorded and EventsRefused total the sessions' events recorded
	// and refused by the library.
	EventsRecorded, EventsRefused int64
	// CostUSD totals the sessions' cost; UnpricedCalls their calls that no
	// price was found for.
	CostUSD       float64
	UnpricedCalls int64
}

// SuccessRate is Success/Sessions, or 0 without sessions.
func (c Counts) SuccessRate() float64 {
	if c.Sessions == 0 {
		return 0
	}
	return float64(c.Success) / float64(c.Sessions)
}

// EventSuccessRate is the share of events the library recorded among those
// it was asked to record: Recorded/(Recorded+Refused), or 1 when none was
// asked (nothing failed).
func (c Counts) EventSuccessRate() float64 {
	n := c.EventsRecorded + c.EventsRefused
	if n == 0 {
		return 1
	}
	return float64(c.EventsRecorded) / float64(n)
}

// Percentiles are duration percentiles in milliseconds over Count sessions
// (all zero when Count is 0).
type Percentiles struct {
	Count         int64
	P50, P95, P99 float64
}

// ReasonCount is a failure reason and how many sessions ended with it.
type ReasonCount struct {
	Reason string
	Count  int64
}

// Overview computes an overview of the sessions that started in the range.
// Every query reads only an index: counts per bucket (one pass over the
// range), percentiles (one walk of the duration index each), concurrency
// (one pass over the sessions overlapping the range), failure reasons.
func (s *Store) Overview(ctx context.Context, q OverviewQuery) (*Overview, error) {
	if q.Step == 0 {
		q.Step = time.Minute
	}
	if q.Reasons == 0 {
		q.Reasons = 10
	}
	switch {
	case !q.To.After(q.From):
		return nil, fmt.Errorf("%w: overview range [%s, %s) is empty", ErrInvalidQuery, q.From, q.To)
	case q.Step < time.Microsecond:
		return nil, fmt.Errorf("%w: overview step %s, want ≥ 1µs", ErrInvalidQuery, q.Step)
	case q.Reasons < 0 || q.Reasons > 100:
		return nil, fmt.Errorf("%w: %d reasons, want 1..100", ErrInvalidQuery, q.Reasons)
	}
	from, to, step := q.From.UnixMicro(), q.To.UnixMicro(), q.Step.Microseconds()
	n := (to - from + step - 1) / step
	if n > MaxBuckets {
		return nil, fmt.Errorf("%w: %d buckets, want ≤ %d (widen the step)", ErrInvalidQuery, n, MaxBuckets)
	}
	if err := s.ensureSchema(ctx); err != nil {
		return nil, err
	}
	o := &Overview{From: q.From, To: q.To, Step: q.Step, Buckets: make([]Bucket, n)}
	for i := range o.Buckets {
		o.Buckets[i].Start = time.UnixMicro(from + int64(i)*step).UTC()
	}
	db := s.b.reader()

	// Three independent parts run at once on the reader pool (each is an
	// index-only pass over the range); they may see slightly different
	// moments of a store being written, which an overview tolerates.
	var wg sync.WaitGroup
	errs := make([]error, 3)
	var delta []int64
	wg.Go(func() { errs[0] = s.overviewBuckets(ctx, db, o, from, to, step, n) })
	wg.Go(func() { delta, errs[1] = s.overviewConcurrency(ctx, db, from, to, step, n) })
	wg.Go(func() { o.FailureReasons, errs[2] = s.overviewReasons(ctx, db, from, to, q.Reasons) })
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var running int64
	for i := range o.Buckets {
		running += delta[i]
		o.Buckets[i].Concurrent = running
	}
	return o, nil
}

// overviewBuckets fills o's per-bucket counts and totals, then its
// duration percentiles.
func (s *Store) overviewBuckets(ctx context.Context, db *sql.DB, o *Overview, from, to, step, n int64) error {
	fail := func(err error) error { return fmt.Errorf("store: overview buckets: %w", s.redact(err)) }
	rows, err := db.QueryContext(ctx, `SELECT (start_us - $1) / $3 AS b, count(*),
		CAST(sum(CASE WHEN end_state = 'Success' THEN 1 ELSE 0 END) AS bigint),
		CAST(sum(CASE WHEN end_state = 'Fail' THEN 1 ELSE 0 END) AS bigint),
		CAST(sum(CASE WHEN end_state = 'Indeterminate' THEN 1 ELSE 0 END) AS bigint),
		CAST(sum(CASE WHEN error_count > 0 THEN 1 ELSE 0 END) AS bigint), CAST(sum(complete) AS bigint),
		CAST(sum(total_tokens) AS bigint), CAST(sum(events_recorded) AS bigint),
		CAST(sum(events_refused) AS bigint), sum(cost_usd), CAST(sum(unpriced_calls) AS bigint)
		FROM crewtrace_sessions WHERE start_us >= $1 AND start_us < $2
		GROUP BY (start_us - $1) / $3`, from, to, step)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	for rows.Next() {
		var i int64
		var c Counts
		if err := rows.Scan(&i, &c.Sessions, &c.Success, &c.Fail, &c.Indeterminate, &c.Errors, &c.Complete,
			&c.Tokens, &c.EventsRecorded, &c.EventsRefused, &c.CostUSD, &c.UnpricedCalls); err != nil {
			return fail(err)
		}
		c.Other = c.Sessions - c.Success - c.Fail - c.Indeterminate
		if i >= 0 && i < n {
			o.Buckets[i].Counts = c
		}
		t := &o.Totals
		t.Sessions += c.Sessions
		t.Success += c.Success
		t.Fail += c.Fail
		t.Indeterminate += c.Indeterminate
		t.Complete += c.Complete
		t.Other += c.Other
		t.Errors += c.Errors
		t.Tokens += c.Tokens
		t.EventsRecorded += c.EventsRecorded
		t.EventsRefused += c.EventsRefused
		t.CostUSD += c.CostUSD
		t.UnpricedCalls += c.UnpricedCalls
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	rows.Close()

	// Duration percentiles, nearest rank: the value at rank ceil(p·n/100)
	// among the n complete sessions counted above. Each is one walk of the
	// duration index, which holds start_us and complete (no sort, no table
	// reads); on both databases this beats a window function over the range.
	total := o.Totals.Complete
	if total == 0 {
		return nil
	}
	o.Durations.Count = total
	for _, p := range []struct {
		pct int64
		dst *float64
	}{{50, &o.Durations.P50}, {95, &o.Durations.P95}, {99, &o.Durations.P99}} {
		rank := (total*p.pct + 99) / 100
		err := db.QueryRowContext(ctx, `SELECT duration_ms FROM crewtrace_sessions
			WHERE start_us >= $1 AND start_us < $2 AND complete = 1
			ORDER BY duration_ms LIMIT 1 OFFSET $3`, from, to, rank-1).Scan(p.dst)
		if err != nil {
			return fmt.Errorf("store: overview p%d duration: %w", p.pct, s.redact(err))
		}
	}
	return nil
}

// overviewConcurrency returns, per bucket, the change in running sessions
// at its start. A session counts at bucket i's start t_i when start ≤ t_i <
// end: its +1 lands on the first bucket whose start is ≥ its start, its -1
// on the first whose start is ≥ its end; the caller's running sum gives the
// sessions running at each start. One pass: sessions grouped by (first,
// last) bucket.
func (s *Store) overviewConcurrency(ctx context.Context, db *sql.DB, from, to, step, n int64) ([]int64, error) {
	fail := func(err error) ([]int64, error) {
		return nil, fmt.Errorf("store: overview concurrency: %w", s.redact(err))
	}
	rows, err := db.QueryContext(ctx, `SELECT sb, eb, count(*) FROM (
		SELECT CASE WHEN start_us <= $1 THEN 0 ELSE (start_us - $1 + $3 - 1) / $3 END AS sb,
			(end_us - $1 + $3 - 1) / $3 AS eb
		FROM crewtrace_sessions WHERE end_us > $1 AND start_us < $2) e
		GROUP BY sb, eb`, from, to, step)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	delta := make([]int64, n)
	for rows.Next() {
		var sb, eb, c int64
		if err := rows.Scan(&sb, &eb, &c); err != nil {
			return fail(err)
		}
		if sb >= 0 && sb < n {
			delta[sb] += c
		}
		if eb >= 0 && eb < n {
			delta[eb] -= c
		}
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	return delta, nil
}

// overviewReasons returns the most frequent end reasons of the failed
// sessions of the range (from the covering state index).
func (s *Store) overviewReasons(ctx context.Context, db *sql.DB, from, to int64, limit int) ([]ReasonCount, error) {
	fail := func(err error) ([]ReasonCount, error) {
		return nil, fmt.Errorf("store: overview failure reasons: %w", s.redact(err))
	}
	rows, err := db.QueryContext(ctx, `SELECT reason_key, count(*) AS c FROM crewtrace_sessions
		WHERE end_state = 'Fail' AND start_us >= $1 AND start_us < $2
		GROUP BY reason_key ORDER BY c DESC, reason_key LIMIT $3`, from, to, limit)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	var out []ReasonCount
	for rows.Next() {
		var r ReasonCount
		if err := rows.Scan(&r.Reason, &r.Count); err != nil {
			return fail(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	return out, nil
}
