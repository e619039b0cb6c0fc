package viewer

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/crewtrace/crewtrace/store"
)

// ErrBadQuery is the error (HTTP 400) for a query parameter the viewer
// cannot read.
var ErrBadQuery = errors.New("bad query")

// EndStates are the end states the filters offer.
var EndStates = []string{"Success", "Fail", "Indeterminate"}

// timeLayouts are the accepted forms of from= and to=: RFC 3339, and what an
// HTML datetime-local input sends (read as UTC).
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"}

func parseTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: %s=%q is not a time (2006-01-02T15:04 or RFC 3339)", ErrBadQuery, name, s)
}

// listParams is the sessions list's query, as the URL holds it.
type listParams struct {
	States    []string
	Text      string
	From, To  string
	HasErrors bool
	Sort      string
	Order     string
	After     string
	Limit     int
}

// parseList reads the list's filters, order and page from the URL.
func parseList(v url.Values) (listParams, store.ListQuery, error) {
	p := listParams{States: v["state"], Text: v.Get("q"), From: v.Get("from"), To: v.Get("to"),
		HasErrors: v.Get("errors") == "1", Sort: v.Get("sort"), Order: v.Get("order"), After: v.Get("after")}
	var q store.ListQuery
	if len(p.States) > 16 {
		return p, q, fmt.Errorf("%w: at most 16 state= values", ErrBadQuery)
	}
	q.EndStates, q.Text, q.HasErrors, q.After = p.States, p.Text, p.HasErrors, p.After
	var err error
	if q.From, err = parseTime("from", p.From); err != nil {
		return p, q, err
	}
	if q.To, err = parseTime("to", p.To); err != nil {
		return p, q, err
	}
	switch p.Sort {
	case "", "start":
		p.Sort, q.Sort = "start", store.SortStart
	case "duration", "tokens", "errors":
		q.Sort = store.SortKey(p.Sort)
	default:
		return p, q, fmt.Errorf("%w: sort=%q (start, duration, tokens or errors)", ErrBadQuery, p.Sort)
	}
	switch p.Order {
	case "", "desc":
		p.Order = "desc"
	case "asc":
		q.Ascending = true
	default:
		return p, q, fmt.Errorf("%w: order=%q (asc or desc)", ErrBadQuery, p.Order)
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > store.MaxLimit {
			return p, q, fmt.Errorf("%w: limit=%q (1..%d)", ErrBadQuery, s, store.MaxLimit)
		}
		p.Limit, q.Limit = n, n
	}
	return p, q, nil
}

// values renders the parameters back into a URL query, without the page
// cursor unless after is given: the links of the page (sort, next page)
// keep its filters.
func (p listParams) values(after string) url.Values {
	v := url.Values{}
	for _, s := range p.States {
		v.Add("state", s)
	}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("q", p.Text)
	set("from", p.From)
	set("to", p.To)
	if p.HasErrors {
		v.Set("errors", "1")
	}
	if p.Sort != "start" {
		set("sort", p.Sort)
	}
	if p.Order != "desc" {
		set("order", p.Order)
	}
	if p.Limit != 0 {
		v.Set("limit", strconv.Itoa(p.Limit))
	}
	set("after", after)
	return v
}

// Ranges are the overview's range choices.
var Ranges = []struct {
	Name string
	D    time.Duration
}{{"1h", time.Hour}, {"6h", 6 * time.Hour}, {"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour}}

// steps are the bucket sizes the overview picks from: the smallest that
// keeps a chart at most maxBuckets wide.
var steps = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour}

const maxBuckets = 180

// parseOverview reads the overview's range: to= (default now) and either
// from= or range= (default 24h); step= overrides the bucket size.
func parseOverview(v url.Values, now time.Time) (string, store.OverviewQuery, error) {
	var q store.OverviewQuery
	var err error
	if q.To, err = parseTime("to", v.Get("to")); err != nil {
		return "", q, err
	}
	if q.To.IsZero() {
		// The end of the current minute, so the last bucket holds now.
		q.To = now.UTC().Truncate(time.Minute).Add(time.Minute)
	}
	rng := v.Get("range")
	if q.From, err = parseTime("from", v.Get("from")); err != nil {
		return "", q, err
	}
	if q.From.IsZero() {
		if rng == "" {
			rng = "24h"
		}
		found := false
		for _, r := range Ranges {
			if r.Name == rng {
				q.From, found = q.To.Add(-r.D), true
			}
		}
		if !found {
			return "", q, fmt.Errorf("%w: range=%q (1h, 6h, 24h, 7d or 30d)", ErrBadQuery, rng)
		}
	} else {
		rng = ""
	}
	if !q.From.Before(q.To) {
		return "", q, fmt.Errorf("%w: from must be before to", ErrBadQuery)
	}
	if s := v.Get("step"); s != "" {
		if q.Step, err = time.ParseDuration(s); err != nil || q.Step < time.Second {
			return "", q, fmt.Errorf("%w: step=%q (a duration ≥ 1s, e.g. 5m)", ErrBadQuery, s)
		}
		if q.To.Sub(q.From)/q.Step > 10000 {
			return "", q, fmt.Errorf("%w: step=%q makes more than 10000 buckets", ErrBadQuery, s)
		}
	} else {
		span := q.To.Sub(q.From)
		q.Step = steps[len(steps)-1]
		for _, s := range steps {
			if span/s <= maxBuckets {
				q.Step = s
				break
			}
		}
	}
	return rng, q, nil
}
