package store

import (
	"context"
	"fmt"
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

// Overview computes an overview with four queries, each one pass over the
// sessions of the range (by the start index) or, for concurrency, over the
// sessions overlapping it.
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
	fail := func(what string, err error) (*Overview, error) {
		return nil, fmt.Errorf("store: overview %s: %w", what, s.redact(err))
	}

	// Per bucket: sessions by end state, errors, tokens, events.
	rows, err := db.QueryContext(ctx, `SELECT (start_us - $1) / $3 AS b, count(*),
		CAST(sum(CASE WHEN end_state = 'Success' THEN 1 ELSE 0 END) AS bigint),
		CAST(sum(CASE WHEN end_state = 'Fail' THEN 1 ELSE 0 END) AS bigint),
		CAST(sum(CASE WHEN end_state = 'Indeterminate' THEN 1 ELSE 0 END) AS bigint),
		CAST(sum(CASE WHEN error_count > 0 THEN 1 ELSE 0 END) AS bigint), CAST(sum(complete) AS bigint),
		CAST(sum(total_tokens) AS bigint), CAST(sum(events_recorded) AS bigint),
		CAST(sum(events_refused) AS bigint)
		FROM crewtrace_sessions WHERE start_us >= $1 AND start_us < $2
		GROUP BY (start_us - $1) / $3`, from, to, step)
	if err != nil {
		return fail("buckets", err)
	}
	for rows.Next() {
		var i int64
		var c Counts
		if err := rows.Scan(&i, &c.Sessions, &c.Success, &c.Fail, &c.Indeterminate, &c.Errors, &c.Complete, &c.Tokens,
			&c.EventsRecorded, &c.EventsRefused); err != nil {
			rows.Close()
			return fail("buckets", err)
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
		t.Other += c.Other
		t.Errors += c.Errors
		t.Complete += c.Complete
		t.Tokens += c.Tokens
		t.EventsRecorded += c.EventsRecorded
		t.EventsRefused += c.EventsRefused
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail("buckets", err)
	}

	// Concurrency: a session counts at bucket i's start t_i when start ≤
	// t_i < end. Its +1 lands on the first bucket whose start is ≥ its
	// start, its -1 on the first whose start is ≥ its end; a running sum
	// over the buckets gives the sessions running at each start.
	rows, err = db.QueryContext(ctx, `SELECT b, CAST(sum(d) AS bigint) FROM (
		SELECT CASE WHEN start_us <= $1 THEN 0 ELSE (start_us - $1 + $3 - 1) / $3 END AS b, 1 AS d
			FROM crewtrace_sessions WHERE end_us > $1 AND start_us < $2
		UNION ALL
		SELECT (end_us - $1 + $3 - 1) / $3 AS b, -1 AS d
			FROM crewtrace_sessions WHERE end_us > $1 AND start_us < $2
	) e GROUP BY b`, from, to, step)
	if err != nil {
		return fail("concurrency", err)
	}
	delta := make([]int64, n)
	for rows.Next() {
		var i, d int64
		if err := rows.Scan(&i, &d); err != nil {
			rows.Close()
			return fail("concurrency", err)
		}
		if i >= 0 && i < n {
			delta[i] += d
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail("concurrency", err)
	}
	var running int64
	for i := range o.Buckets {
		running += delta[i]
		o.Buckets[i].Concurrent = running
	}

	// Duration percentiles, nearest rank: the value at rank ceil(p·n/100)
	// among the n complete sessions the bucket query counted.
	if n := o.Totals.Complete; n > 0 {
		o.Durations.Count = n
		rank := func(p int64) int64 { return (n*p + 99) / 100 }
		rows, err = db.QueryContext(ctx, `SELECT rn, duration_ms FROM (
			SELECT duration_ms, row_number() OVER (ORDER BY duration_ms) AS rn
			FROM crewtrace_sessions WHERE start_us >= $1 AND start_us < $2 AND complete = 1) d
			WHERE rn IN ($3, $4, $5)`, from, to, rank(50), rank(95), rank(99))
		if err != nil {
			return fail("durations", err)
		}
		for rows.Next() {
			var rn int64
			var d float64
			if err := rows.Scan(&rn, &d); err != nil {
				rows.Close()
				return fail("durations", err)
			}
			p := &o.Durations
			if rn == rank(50) {
				p.P50 = d
			}
			if rn == rank(95) {
				p.P95 = d
			}
			if rn == rank(99) {
				p.P99 = d
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fail("durations", err)
		}
	}

	// Most frequent failure reasons.
	rows, err = db.QueryContext(ctx, `SELECT reason_key, count(*) AS c FROM crewtrace_sessions
		WHERE end_state = 'Fail' AND start_us >= $1 AND start_us < $2
		GROUP BY reason_key ORDER BY c DESC, reason_key LIMIT $3`, from, to, q.Reasons)
	if err != nil {
		return fail("failure reasons", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r ReasonCount
		if err := rows.Scan(&r.Reason, &r.Count); err != nil {
			return fail("failure reasons", err)
		}
		o.FailureReasons = append(o.FailureReasons, r)
	}
	if err := rows.Err(); err != nil {
		return fail("failure reasons", err)
	}
	return o, nil
}
