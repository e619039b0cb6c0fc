package harness

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// sample is one line of a Prometheus text exposition.
type sample struct {
	name   string
	labels string // the text between the braces, "" if none
	value  float64
}

// scrape reads every sample of a Prometheus text endpoint (Stack.MetricsURL).
func scrape(ctx context.Context, url string) ([]sample, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("harness: metrics request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("harness: scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("harness: scrape %s: %s", url, resp.Status)
	}
	return parseSamples(resp.Body)
}

// parseSamples parses a Prometheus text exposition; comments and lines
// whose value is not a number are passed over.
func parseSamples(r io.Reader) ([]sample, error) {
	var out []sample
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		var s sample
		rest := ""
		if i := strings.IndexAny(line, "{ "); i < 0 {
			continue
		} else if line[i] == '{' {
			j := strings.LastIndexByte(line, '}')
			if j < i {
				continue
			}
			s.name, s.labels, rest = line[:i], line[i+1:j], line[j+1:]
		} else {
			s.name, rest = line[:i], line[i:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		s.value = v
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("harness: read metrics: %w", err)
	}
	return out, nil
}

// has reports whether the sample's labels include label=value.
func (s sample) has(label, value string) bool {
	return strings.Contains(","+s.labels+",", ","+label+"=\""+value+"\",")
}

// ScrapeMetric reads a Prometheus text endpoint (Stack.MetricsURL) and
// returns the sum of the samples of the metric called name (the full
// exposition name, e.g. with _total) whose labels include every label in
// match, and whether any sample matched.
func ScrapeMetric(ctx context.Context, url, name string, match map[string]string) (float64, bool, error) {
	samples, err := scrape(ctx, url)
	if err != nil {
		return 0, false, err
	}
	var sum float64
	found := false
next:
	for _, s := range samples {
		if s.name != name {
			continue
		}
		for k, v := range match {
			if !s.has(k, v) {
				continue next
			}
		}
		sum += s.value
		found = true
	}
	return sum, found, nil
}

// Metrics are all the samples of a Prometheus text exposition, summed per metric
// name over their label sets (otelcol_exporter_session_sessions_buffered ...).
type Metrics map[string]float64

// ScrapeMetrics reads a Prometheus text endpoint (Stack.MetricsURL), summed per name.
func ScrapeMetrics(ctx context.Context, url string) (Metrics, error) {
	samples, err := scrape(ctx, url)
	if err != nil {
		return nil, err
	}
	out := Metrics{}
	for _, s := range samples {
		out[s.name] += s.value
	}
	return out, nil
}

// Get returns the first of names present (exporters add _total to counters,
// some versions a unit suffix), and whether one was.
func (m Metrics) Get(names ...string) (float64, bool) {
	for _, n := range names {
		for _, suffix := range []string{"", "_total", "_ratio"} {
			if v, ok := m[n+suffix]; ok {
				return v, true
			}
		}
	}
	return 0, false
}
