package store

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/record"
)

func TestOverviewMatchesAComputationInGo(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		var rs []*record.Record
		for i := range 50 {
			rs = append(rs, rec(fmt.Sprintf("s%02d", i), traceID(i), 0, func(r *record.Record) {
				r.StartTime = base.Add(time.Duration(i*37) * time.Second)
				r.DurationMs = float64(1000 + (i*7919)%90000)
				r.EndTime = r.StartTime.Add(time.Duration(r.DurationMs) * time.Millisecond)
				r.Tokens.Total = int64(i * 3)
				r.Complete = i%10 != 9
				r.Counts.Errors = i % 3
				r.Events = make([]record.Event, i%4)
				for k := range r.Events {
					r.Events[k] = record.Event{Kind: "event", Type: "x", Time: r.StartTime}
				}
				switch i % 6 {
				case 0, 1:
					r.EndState, r.EndReason = "Fail", []string{"quota", "tool crashed", "quota"}[i%3]
				case 2:
					r.EndState = "Indeterminate"
				case 3:
					r.EndState = "Weird"
				}
			}))
		}
		batch := enc(t, rs...)
		for i := range batch {
			if i%5 == 0 {
				batch[i] = withJSON(t, batch[i], `{"events_refused":2}`)
			}
		}
		require.NoError(t, e.s.Write(context.Background(), batch))

		from, to, step := base.Add(3*time.Minute), base.Add(25*time.Minute), 2*time.Minute
		o, err := e.s.Overview(context.Background(), OverviewQuery{From: from, To: to, Step: step, Reasons: 5})
		require.NoError(t, err)

		n := int((to.Sub(from) + step - 1) / step)
		wantB := make([]Bucket, n)
		var durs []float64
		var tot Counts
		reasons := map[string]int64{}
		for i := range wantB {
			tStart := from.Add(time.Duration(i) * step)
			wantB[i].Start = tStart
			for _, r := range rs {
				if !r.StartTime.After(tStart) && r.EndTime.After(tStart) {
					wantB[i].Concurrent++
				}
			}
		}
		for i, r := range rs {
			if r.StartTime.Before(from) || !r.StartTime.Before(to) {
				continue
			}
			b := &wantB[int(r.StartTime.Sub(from)/step)].Counts
			for _, c := range []*Counts{b, &tot} {
				c.Sessions++
				switch r.EndState {
				case "Success":
					c.Success++
				case "Fail":
					c.Fail++
				case "Indeterminate":
					c.Indeterminate++
				default:
					c.Other++
				}
				if r.Counts.Errors > 0 {
					c.Errors++
				}
				if r.Complete {
					c.Complete++
				}
				c.Tokens += r.Tokens.Total
				c.EventsRecorded += int64(len(r.Events))
				if i%5 == 0 {
					c.EventsRefused += 2
				}
			}
			if r.Complete {
				durs = append(durs, r.DurationMs)
			}
			if r.EndState == "Fail" {
				reasons[r.EndReason]++
			}
		}
		for i := range wantB {
			wantB[i].Start = wantB[i].Start.UTC()
		}
		assert.Equal(t, wantB, o.Buckets)
		assert.Equal(t, tot, o.Totals)
		sort.Float64s(durs)
		rank := func(p int) float64 { return durs[(len(durs)*p+99)/100-1] }
		assert.Equal(t, Percentiles{Count: int64(len(durs)), P50: rank(50), P95: rank(95), P99: rank(99)}, o.Durations)
		assert.Equal(t, []ReasonCount{{"quota", reasons["quota"]}, {"tool crashed", reasons["tool crashed"]}}, o.FailureReasons)
		assert.InDelta(t, float64(tot.EventsRecorded)/float64(tot.EventsRecorded+tot.EventsRefused), o.Totals.EventSuccessRate(), 1e-9)
		assert.Greater(t, tot.EventsRefused, int64(0))
	})
}

func TestOverviewRefusesBadRanges(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		_, err := e.s.Overview(ctx, OverviewQuery{From: base, To: base})
		assert.ErrorIs(t, err, ErrInvalidQuery)
		_, err = e.s.Overview(ctx, OverviewQuery{From: base, To: base.Add(365 * 24 * time.Hour), Step: time.Second})
		assert.ErrorIs(t, err, ErrInvalidQuery)
		o, err := e.s.Overview(ctx, OverviewQuery{From: base, To: base.Add(time.Hour)})
		require.NoError(t, err)
		assert.Len(t, o.Buckets, 60)
		assert.Equal(t, 1.0, o.Totals.EventSuccessRate(), "no events asked for, none refused")
	})
}

// Writers take the change counter's lock first and keep it to commit, so a
// tail following SessionsSince while many writers commit concurrently sees
// every session.
func TestTailMissesNothingUnderConcurrentWriters(t *testing.T) {
	forEachDialect(t, func(t *testing.T, e *env) {
		const writers, batches, per = 6, 15, 4
		ctx := context.Background()
		seen := map[string]bool{}
		pos := ""
		poll := func() {
			for {
				ch, err := e.s.SessionsSince(ctx, pos, 50)
				require.NoError(t, err)
				for _, s := range ch.Sessions {
					seen[s.SessionID] = true
				}
				pos = ch.Next
				if len(ch.Sessions) < 50 {
					return
				}
			}
		}
		var wg sync.WaitGroup
		done := make(chan struct{})
		for w := range writers {
			wg.Go(func() {
				for b := range batches {
					var rs []*record.Record
					for k := range per {
						rs = append(rs, rec(fmt.Sprintf("w%d-b%d-%d", w, b, k), traceID(w*1000+b*10+k), 0))
					}
					assert.NoError(t, e.s.Write(ctx, enc(t, rs...)))
				}
			})
		}
		go func() { wg.Wait(); close(done) }()
		for running := true; running; {
			select {
			case <-done:
				running = false
			default:
			}
			poll()
		}
		poll()
		assert.Len(t, seen, writers*batches*per)
	})
}
