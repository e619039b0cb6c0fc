package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/e2e/harness"
)

// promInterval is the test Prometheus's scrape and evaluation interval.
const promInterval = time.Second

// crewRun is one example-crew process of TestPrometheusMonitoring.
type crewRun struct {
	service string
	seed    string
	tasks   int
}

// TestPrometheusMonitoring runs three example-crew processes at once (two of
// service "crew", one of "night-crew") through the real collector, scraped by
// a real Prometheus running the repository's prometheus.yml and rule file
// (1 s intervals). Once Prometheus has scraped the collector after it held
// every crew's final counts, the totals queries of docs/MONITORING.md equal
// what the crews' truth says: sessions started by name, ended by end state
// (library and session exporter), events recorded by kind, rejected by
// reason (events after the end), agents created (malformed agent IDs not
// among them), no session active, two processes of "crew". Every rule loads
// and evaluates, and every recording rule, as the page's query and as the
// series Prometheus records, has one series per (service, name / end state /
// reason) of the truth.
func TestPrometheusMonitoring(t *testing.T) {
	ctx, env := newEnv(t)
	queries, err := harness.MonitoringQueries(env.root)
	require.NoError(t, err)
	query := func(name string) string {
		for _, q := range queries {
			if q.Name == name {
				return q.Query
			}
		}
		t.Fatalf("%s has no query named %s", harness.MonitoringDoc, name)
		return ""
	}

	stack := env.startStack(t, ctx, harness.StackOptions{
		CollectorEnv: []string{harness.EnvGracePeriod + "=1s", harness.EnvSessionTimeout + "=30s"},
	})
	prom := env.startPrometheus(t, ctx, stack)
	require.NoError(t, prom.WaitScrapedAfter(ctx, time.Now(), harness.JobCrewtrace, harness.JobOtelcol), "both targets up")

	runs := []crewRun{{"crew", "1", 10}, {"crew", "2", 10}, {"night-crew", "3", 8}}
	truths := map[string][]harness.Truth{} // by service
	var all []harness.Truth
	crews := make([]*harness.Process, len(runs))
	for i, r := range runs {
		crews[i] = env.startCrewNamed(t, stack, fmt.Sprintf("crew-%d", i), []string{"OTEL_SERVICE_NAME=" + r.service},
			"-tasks", fmt.Sprint(r.tasks), "-concurrency", fmt.Sprint(r.tasks), "-seed", r.seed,
			"-latency", "5ms", "-truth", filepath.Join(env.logDir, fmt.Sprintf("truth-%d.json", i)))
	}
	for i, r := range runs {
		waitCrew(t, ctx, crews[i])
		tr, err := harness.ReadTruth(filepath.Join(env.logDir, fmt.Sprintf("truth-%d.json", i)))
		require.NoError(t, err)
		require.Len(t, tr, r.tasks)
		truths[r.service] = append(truths[r.service], tr...)
		all = append(all, tr...)
	}
	waitForRecords(t, ctx, stack.SessionsPath(), all)

	// The collector holds every crew's final counts (each crew flushed its
	// metrics on exit) and the session exporter has emitted every session;
	// then Prometheus scrapes both endpoints once more.
	n := float64(len(all))
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, harness.Poll(sctx, "the collector's metrics count every session", func(ctx context.Context) (bool, string, error) {
		crew, _, err := harness.ScrapeMetric(ctx, stack.CrewMetricsURL(), "crewtrace_sessions_ended_total", nil)
		if err != nil {
			return false, err.Error(), nil
		}
		exp, _, err := harness.ScrapeMetric(ctx, stack.MetricsURL(), "otelcol_exporter_session_session_duration_count", nil)
		if err != nil {
			return false, err.Error(), nil
		}
		return crew == n && exp == n, fmt.Sprintf("crews %v, exporter %v of %v sessions", crew, exp, n), nil
	}))
	require.NoError(t, prom.WaitScrapedAfter(sctx, time.Now(), harness.JobCrewtrace, harness.JobOtelcol))

	// Totals: the page's queries against the truth.
	want := expectedTotals(truths)
	for _, name := range []string{
		"sessions_started_by_name", "sessions_ended_by_state", "exporter_sessions_by_state",
		"events_recorded_by_kind", "events_rejected_by_reason", "agents_created", "crew_processes",
		"crewtrace:sessions_active:sum",
	} {
		t.Run(name, func(t *testing.T) {
			require.Contains(t, want, name)
			got, err := prom.Query(ctx, query(name))
			require.NoError(t, err)
			assert.Equal(t, want[name], byKey(got), "%s:\n%s", name, query(name))
		})
	}
	require.Positive(t, want["events_rejected_by_reason"]["error_type=session_ended,service_name=crew"], "the crews had events refused")

	// Rules: all loaded and evaluated without error.
	rf := readRuleFile(t, env.root)
	var ruleNames []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			ruleNames = append(ruleNames, r.Record+r.Alert)
		}
	}
	rctx, cancel := context.WithTimeout(ctx, 30*promInterval)
	defer cancel()
	require.NoError(t, harness.Poll(rctx, "every rule evaluated", func(ctx context.Context) (bool, string, error) {
		rules, err := prom.Rules(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		var loaded []string
		for _, r := range rules {
			if r.Health == "err" {
				return false, "", fmt.Errorf("rule %s: %s", r.Name, r.LastError)
			}
			if r.Health != "ok" {
				return false, fmt.Sprintf("rule %s: %s", r.Name, r.Health), nil
			}
			loaded = append(loaded, r.Name)
		}
		return assert.ObjectsAreEqual(sorted(ruleNames), sorted(loaded)), fmt.Sprintf("loaded %v", loaded), nil
	}))

	// Recording rules: the page's query and the recorded series have one
	// series per group of the truth (rates over a counter first seen whole
	// may be NaN; the series are there).
	services := keysOf(truths, func(svc string, _ harness.Truth) []string { return []string{"service_name=" + svc} })
	byName := keysOf(truths, func(svc string, tr harness.Truth) []string {
		return []string{"crewtrace_session_name=" + tr.Name + ",service_name=" + svc}
	})
	byState := keysOf(truths, func(svc string, tr harness.Truth) []string {
		return []string{"crewtrace_session_end_state=" + tr.EndState + ",service_name=" + svc}
	})
	byReason := keysOf(truths, func(svc string, tr harness.Truth) []string {
		var out []string
		for _, r := range tr.Refused {
			if r.Call == harness.RefusedRecordEvent {
				out = append(out, "error_type="+r.Reason+",service_name="+svc)
			}
		}
		return out
	})
	wantSeries := map[string][]string{
		"crewtrace:session_success:ratio_rate5m":         byName,
		"crewtrace:event_recording_success:ratio_rate5m": services,
		"crewtrace:events_rejected:ratio_rate5m":         byReason,
		"crewtrace:sessions_active:sum":                  services,
		"crewtrace:sessions_started:per_minute_rate5m":   services,
		"crewtrace:session_duration_seconds:p50_rate5m":  byState,
		"crewtrace:session_duration_seconds:p95_rate5m":  byState,
		"crewtrace:agents_per_session:ratio_rate5m":      services,
	}
	seriesKeys := func(ctx context.Context, q string) ([]string, error) {
		res, err := prom.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		var keys []string
		for _, s := range res {
			keys = append(keys, s.Key())
		}
		return sorted(keys), nil
	}
	// Rates need two samples after the counters settled, and the rules one
	// evaluation after that: a few intervals, not the test's whole budget.
	// The subtests below report whatever still differs.
	wctx, cancel := context.WithTimeout(ctx, 20*promInterval)
	defer cancel()
	_ = harness.Poll(wctx, "every recording rule's series", func(ctx context.Context) (bool, string, error) {
		for name, keys := range wantSeries {
			for _, q := range []string{query(name), name} {
				got, err := seriesKeys(ctx, q)
				if err != nil {
					return false, "", err
				}
				if !assert.ObjectsAreEqual(keys, got) {
					return false, fmt.Sprintf("%s: %v", name, got), nil
				}
			}
		}
		return true, "", nil
	})
	for name, keys := range wantSeries {
		t.Run("series/"+name, func(t *testing.T) {
			for _, q := range []string{query(name), name} {
				got, err := seriesKeys(ctx, q)
				require.NoError(t, err, q)
				assert.Equal(t, keys, got, "%s", q)
			}
		})
	}
}

// expectedTotals is what each totals query of docs/MONITORING.md must give
// for the crews' truth, by the query's name, as series key -> value.
func expectedTotals(truths map[string][]harness.Truth) map[string]map[string]float64 {
	want := map[string]map[string]float64{}
	add := func(name, key string, v float64) {
		if want[name] == nil {
			want[name] = map[string]float64{}
		}
		want[name][key] += v
	}
	for svc, trs := range truths {
		s := "service_name=" + svc
		add("crewtrace:sessions_active:sum", s, 0)
		for _, tr := range trs {
			add("sessions_started_by_name", "crewtrace_session_name="+tr.Name+","+s, 1)
			add("sessions_ended_by_state", "crewtrace_session_end_state="+tr.EndState+","+s, 1)
			add("exporter_sessions_by_state", "end_state="+tr.EndState, 1)
			add("agents_created", s, float64(len(tr.Agents)))
			for _, ev := range tr.Events {
				add("events_recorded_by_kind", "crewtrace_event_kind="+ev.Kind+","+s, 1)
			}
			for _, r := range tr.Refused {
				if r.Call == harness.RefusedRecordEvent {
					add("events_rejected_by_reason", "error_type="+r.Reason+","+s, 1)
				}
			}
		}
	}
	add("crew_processes", "service_name=crew", 2)
	add("crew_processes", "service_name=night-crew", 1)
	return want
}

// byKey maps a query's result to series key -> value.
func byKey(res []harness.PromSample) map[string]float64 {
	out := map[string]float64{}
	for _, s := range res {
		out[s.Key()] = s.Value
	}
	return out
}

// keysOf collects the distinct series keys f gives for the truth, sorted.
func keysOf(truths map[string][]harness.Truth, f func(service string, tr harness.Truth) []string) []string {
	seen := map[string]bool{}
	for svc, trs := range truths {
		for _, tr := range trs {
			for _, k := range f(svc, tr) {
				seen[k] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	return sorted(out)
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}

// startPrometheus runs Prometheus with the repository's configuration,
// scraping stack's collector every promInterval, and stops it when the test
// is done, printing the end of its log if the test failed.
func (e testEnv) startPrometheus(t *testing.T, ctx context.Context, stack *harness.Stack) *harness.Prometheus {
	t.Helper()
	prom, err := harness.StartPrometheus(ctx, harness.PrometheusOptions{
		Root: e.root, LogDir: e.logDir, Interval: promInterval,
		Targets: map[string][]string{
			harness.JobCrewtrace: {stack.Addrs.CrewMetrics},
			harness.JobOtelcol:   {stack.Addrs.Metrics},
		},
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = prom.Stop(0)
		if t.Failed() {
			logTail(t, prom.Process)
		}
	})
	return prom
}

// startCrewNamed is startCrew for one of several crews: its log is
// <name>.log.
func (e testEnv) startCrewNamed(t *testing.T, stack *harness.Stack, name string, extraEnv []string, args ...string) *harness.Process {
	t.Helper()
	crew, err := harness.Start(name, e.logDir, append(stack.CrewEnv(), extraEnv...), e.bins.Crew, args...)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = crew.Stop(0)
		if t.Failed() {
			logTail(t, crew)
		}
	})
	return crew
}
