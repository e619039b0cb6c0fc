package viewer

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/crewtrace/crewtrace/store"
)

// Chart geometry, in SVG user units.
const (
	chW    = 600
	chH    = 160
	chLeft = 48
	chBot  = 20
)

// chart is one inline SVG chart: bars and/or a polyline over the buckets.
type chart struct {
	Title  string
	Note   string
	Max    string
	Bars   []bar
	Line   string
	XLabel []tick
	Legend []option
}

type bar struct {
	X, Y, W, H float64
	Class      string
	Title      string
}

// overviewView is the overview page.
type overviewView struct {
	Title     string
	Range     string
	Ranges    []option
	O         OverviewJSON
	Step      string
	PerMinute string
	Charts    []chart
	Reasons   []ReasonJSON
}

func newOverviewView(o *store.Overview, rng string) overviewView {
	ov := overviewView{Title: "Overview", Range: rng, O: overviewJSON(o), Step: fmtStep(o.Step)}
	for _, r := range Ranges {
		ov.Ranges = append(ov.Ranges, option{Value: r.Name, Label: r.Name, Selected: r.Name == rng})
	}
	mins := o.To.Sub(o.From).Minutes()
	if mins > 0 {
		ov.PerMinute = strconv.FormatFloat(float64(o.Totals.Sessions)/mins, 'f', 2, 64)
	}
	ov.Reasons = ov.O.FailureReasons
	n := len(o.Buckets)
	if n == 0 {
		return ov
	}
	bw := float64(chW-chLeft) / float64(n)
	xAt := func(i int) float64 { return chLeft + bw*float64(i) }
	var xl []tick
	for i := 0; i < n; i += max(1, n/5) {
		xl = append(xl, tick{X: xAt(i), Label: o.Buckets[i].Start.UTC().Format(labelLayout(o.Step, o.To.Sub(o.From)))})
	}
	label := func(b store.Bucket) string { return b.Start.UTC().Format("2006-01-02 15:04") }
	perBucket := "per " + fmtStep(o.Step)

	// Sessions per bucket.
	sess := chart{Title: "Sessions started", Note: perBucket, XLabel: xl}
	var m int64 = 1
	for _, b := range o.Buckets {
		m = max(m, b.Sessions)
	}
	sess.Max = strconv.FormatInt(m, 10)
	for i, b := range o.Buckets {
		h := float64(chH-chBot) * float64(b.Sessions) / float64(m)
		sess.Bars = append(sess.Bars, bar{X: xAt(i), Y: chH - chBot - h, W: max(bw-1, 0.5), H: h, Class: "b-sessions",
			Title: fmt.Sprintf("%s: %d sessions", label(b), b.Sessions)})
	}

	// Concurrent sessions at each bucket's start.
	conc := chart{Title: "Concurrent sessions", Note: "running at each bucket's start", XLabel: xl}
	m = 1
	for _, b := range o.Buckets {
		m = max(m, b.Concurrent)
	}
	conc.Max = strconv.FormatInt(m, 10)
	var pts []string
	for i, b := range o.Buckets {
		y := chH - chBot - float64(chH-chBot)*float64(b.Concurrent)/float64(m)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", xAt(i)+bw/2, y))
	}
	conc.Line = strings.Join(pts, " ")

	// End states per bucket, stacked as shares: the success rate over time.
	states := chart{Title: "End states", Note: "share of the sessions started in each bucket", Max: "100%", XLabel: xl,
		Legend: []option{{Value: "b-success", Label: "Success"}, {Value: "b-fail", Label: "Fail"},
			{Value: "b-indeterminate", Label: "Indeterminate"}, {Value: "b-other", Label: "other"}}}
	for i, b := range o.Buckets {
		if b.Sessions == 0 {
			continue
		}
		y := float64(chH - chBot)
		for _, part := range []struct {
			n     int64
			class string
		}{{b.Success, "b-success"}, {b.Fail, "b-fail"}, {b.Indeterminate, "b-indeterminate"}, {b.Other, "b-other"}} {
			h := float64(chH-chBot) * float64(part.n) / float64(b.Sessions)
			y -= h
			if part.n > 0 {
				states.Bars = append(states.Bars, bar{X: xAt(i), Y: y, W: max(bw-1, 0.5), H: h, Class: part.class,
					Title: fmt.Sprintf("%s: %d of %d %s", label(b), part.n, b.Sessions, strings.TrimPrefix(part.class, "b-"))})
			}
		}
	}

	// Tokens per bucket.
	tok := chart{Title: "Tokens", Note: perBucket, XLabel: xl}
	m = 1
	for _, b := range o.Buckets {
		m = max(m, b.Tokens)
	}
	tok.Max = strconv.FormatInt(m, 10)
	for i, b := range o.Buckets {
		h := float64(chH-chBot) * float64(b.Tokens) / float64(m)
		tok.Bars = append(tok.Bars, bar{X: xAt(i), Y: chH - chBot - h, W: max(bw-1, 0.5), H: h, Class: "b-tokens",
			Title: fmt.Sprintf("%s: %d tokens", label(b), b.Tokens)})
	}
	ov.Charts = []chart{sess, conc, states, tok}
	return ov
}

// labelLayout picks how much of a bucket's time an axis label shows.
func labelLayout(step, span time.Duration) string {
	switch {
	case step >= 24*time.Hour:
		return "01-02"
	case span > 24*time.Hour:
		return "01-02 15:04"
	}
	return "15:04"
}

// fmtStep names a bucket size: 1m, 15m, 6h, 1d.
func fmtStep(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}
