package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// PrometheusDir is where the repository keeps Prometheus's configuration
// (prometheus.yml), rule file and rule tests, relative to the checkout root.
const PrometheusDir = "deploy/prometheus"

// The scrape jobs of deploy/prometheus/prometheus.yml.
const (
	// JobCrewtrace scrapes the collector's prometheus exporter (Addrs.CrewMetrics).
	JobCrewtrace = "crewtrace"
	// JobOtelcol scrapes the collector's own telemetry (Addrs.Metrics).
	JobOtelcol = "otelcol"
)

// PrometheusOptions configure StartPrometheus.
type PrometheusOptions struct {
	// Root is the checkout root: the configuration comes from its
	// deploy/prometheus.
	Root string
	// LogDir receives prometheus.log, and the configuration and storage
	// under LogDir/prometheus.
	LogDir string
	// Addr is where Prometheus listens; "" picks a free loopback port.
	Addr string
	// Targets are the host:port targets of each scrape job (JobCrewtrace,
	// JobOtelcol), written to the targets files the configuration names.
	Targets map[string][]string
	// Interval replaces the configuration's scrape and evaluation
	// intervals when set (tests use 1 s); nothing else is changed.
	Interval time.Duration
	// StartTimeout bounds the wait for Prometheus to be ready; default 30 s.
	StartTimeout time.Duration
}

// Prometheus is a Prometheus server run by StartPrometheus, and a client of
// its HTTP API.
type Prometheus struct {
	// Process is the running server; stop it with Stop.
	*Process
	// URL is its base URL (http://127.0.0.1:port).
	URL string
	// ConfigPath is the configuration it runs.
	ConfigPath string

	client *http.Client
}

// PrometheusBinary finds the prometheus program (Debian's `prometheus`
// package, which .ci/run installs).
func PrometheusBinary() (string, error) {
	p, err := exec.LookPath("prometheus")
	if err != nil {
		return "", fmt.Errorf("harness: prometheus is not installed (apt-get install prometheus; .ci/run does): %w", err)
	}
	return p, nil
}

// StartPrometheus runs Prometheus with the repository's prometheus.yml and
// rule files, copied into a directory of its own with o.Targets as the
// targets of its scrape jobs (and o.Interval as its intervals), on loopback,
// with storage in that directory, and waits until it is ready.
func StartPrometheus(ctx context.Context, o PrometheusOptions) (*Prometheus, error) {
	bin, err := PrometheusBinary()
	if err != nil {
		return nil, err
	}
	if o.Addr == "" {
		if o.Addr, err = FreeAddr(); err != nil {
			return nil, err
		}
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 30 * time.Second
	}
	dir := filepath.Join(o.LogDir, "prometheus")
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("harness: prometheus dir: %w", err)
	}
	configPath, err := writePrometheusConfig(filepath.Join(o.Root, PrometheusDir), filepath.Join(dir, "config"), o.Targets, o.Interval)
	if err != nil {
		return nil, err
	}
	p, err := Start("prometheus", o.LogDir, nil, bin,
		"--config.file="+configPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+o.Addr)
	if err != nil {
		return nil, err
	}
	prom := &Prometheus{Process: p, URL: "http://" + o.Addr, ConfigPath: configPath, client: &http.Client{Timeout: 5 * time.Second}}
	ctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	if err := WaitHTTP(ctx, prom.URL+"/-/ready", p); err != nil {
		return nil, errors.Join(err, p.Stop(0))
	}
	return prom, nil
}

// writePrometheusConfig copies src/prometheus.yml and the rule files it
// names into dst, with targets written to the file_sd files of its jobs and,
// when interval > 0, the global intervals replaced. It returns the
// configuration's path.
func writePrometheusConfig(src, dst string, targets map[string][]string, interval time.Duration) (string, error) {
	raw, err := os.ReadFile(filepath.Join(src, "prometheus.yml"))
	if err != nil {
		return "", fmt.Errorf("harness: prometheus config: %w", err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		return "", fmt.Errorf("harness: prometheus config: %w", err)
	}
	if interval > 0 {
		global, _ := cfg["global"].(map[string]any)
		if global == nil {
			global = map[string]any{}
		}
		// scrape_timeout may not exceed scrape_interval.
		global["scrape_interval"], global["evaluation_interval"], global["scrape_timeout"] = interval.String(), interval.String(), interval.String()
		cfg["global"] = global
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return "", fmt.Errorf("harness: prometheus config dir: %w", err)
	}
	rules, _ := cfg["rule_files"].([]any)
	for _, r := range rules {
		name, _ := r.(string)
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			return "", fmt.Errorf("harness: prometheus rule file: %w", err)
		}
		if err := writeFile(filepath.Join(dst, name), b); err != nil {
			return "", err
		}
	}
	files, err := targetFiles(cfg)
	if err != nil {
		return "", err
	}
	for job, addrs := range targets {
		file, ok := files[job]
		if !ok {
			return "", fmt.Errorf("harness: prometheus config has no file_sd job %q", job)
		}
		b, err := yaml.Marshal([]map[string][]string{{"targets": addrs}})
		if err != nil {
			return "", err
		}
		if err := writeFile(filepath.Join(dst, file), b); err != nil {
			return "", err
		}
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("harness: prometheus config: %w", err)
	}
	path := filepath.Join(dst, "prometheus.yml")
	return path, writeFile(path, out)
}

// PrometheusTargetFiles returns the targets file of each scrape job of the
// repository's prometheus.yml, relative to its directory.
func PrometheusTargetFiles(root string) (map[string]string, error) {
	raw, err := os.ReadFile(filepath.Join(root, PrometheusDir, "prometheus.yml"))
	if err != nil {
		return nil, fmt.Errorf("harness: prometheus config: %w", err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("harness: prometheus config: %w", err)
	}
	return targetFiles(cfg)
}

// targetFiles returns the file_sd file of each scrape job of a parsed
// prometheus.yml (one file per job).
func targetFiles(cfg map[string]any) (map[string]string, error) {
	out := map[string]string{}
	jobs, _ := cfg["scrape_configs"].([]any)
	for _, j := range jobs {
		job, _ := j.(map[string]any)
		name, _ := job["job_name"].(string)
		sds, _ := job["file_sd_configs"].([]any)
		if len(sds) != 1 {
			continue
		}
		sd, _ := sds[0].(map[string]any)
		files, _ := sd["files"].([]any)
		if len(files) != 1 {
			return nil, fmt.Errorf("harness: prometheus job %q: one targets file expected, got %v", name, files)
		}
		out[name], _ = files[0].(string)
	}
	return out, nil
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("harness: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("harness: %w", err)
	}
	return nil
}

// PromSample is one series of an instant query's result.
type PromSample struct {
	// Metric holds the series' labels (__name__ included when it has one).
	Metric map[string]string
	// Value is the sample's value (NaN for 0/0).
	Value float64
}

// Key is the series' labels without __name__, sorted, as "k=v,k=v" (""
// for none): what tells apart the series of one query's result.
func (s PromSample) Key() string {
	keys := make([]string, 0, len(s.Metric))
	for k := range s.Metric {
		if k != "__name__" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + s.Metric[k]
	}
	return strings.Join(parts, ",")
}

// apiResponse is the envelope of every Prometheus HTTP API answer.
type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
}

func (p *Prometheus) get(ctx context.Context, path string, params url.Values, data any) error {
	u := p.URL + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("harness: prometheus: %w", err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("harness: prometheus %s: %w", path, err)
	}
	defer resp.Body.Close()
	var r apiResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("harness: prometheus %s: %s: %w", path, resp.Status, err)
	}
	if r.Status != "success" {
		return fmt.Errorf("harness: prometheus %s: %s: %s", path, r.ErrorType, r.Error)
	}
	if err := json.Unmarshal(r.Data, data); err != nil {
		return fmt.Errorf("harness: prometheus %s: %w", path, err)
	}
	return nil
}

// Query runs an instant PromQL query (/api/v1/query) now; its result must
// be a vector.
func (p *Prometheus) Query(ctx context.Context, q string) ([]PromSample, error) {
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	if err := p.get(ctx, "/api/v1/query", url.Values{"query": {q}}, &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("harness: prometheus query %q: a %s, not a vector", q, data.ResultType)
	}
	out := make([]PromSample, 0, len(data.Result))
	for _, r := range data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("harness: prometheus query %q: value %q: %w", q, s, err)
		}
		out = append(out, PromSample{Metric: r.Metric, Value: v})
	}
	return out, nil
}

// PromRule is one rule Prometheus loaded (/api/v1/rules).
type PromRule struct {
	Group     string
	Name      string `json:"name"`
	Type      string `json:"type"` // recording or alerting
	Query     string `json:"query"`
	Health    string `json:"health"` // ok, err, unknown (not evaluated yet)
	LastError string `json:"lastError"`
}

// Rules returns the rules Prometheus loaded, with their health.
func (p *Prometheus) Rules(ctx context.Context) ([]PromRule, error) {
	var data struct {
		Groups []struct {
			Name  string     `json:"name"`
			Rules []PromRule `json:"rules"`
		} `json:"groups"`
	}
	if err := p.get(ctx, "/api/v1/rules", nil, &data); err != nil {
		return nil, err
	}
	var out []PromRule
	for _, g := range data.Groups {
		for _, r := range g.Rules {
			r.Group = g.Name
			out = append(out, r)
		}
	}
	return out, nil
}

// PromTarget is one scrape target (/api/v1/targets).
type PromTarget struct {
	Job        string
	ScrapeURL  string    `json:"scrapeUrl"`
	Health     string    `json:"health"` // up, down, unknown
	LastError  string    `json:"lastError"`
	LastScrape time.Time `json:"lastScrape"`
}

// Targets returns the active scrape targets.
func (p *Prometheus) Targets(ctx context.Context) ([]PromTarget, error) {
	var data struct {
		ActiveTargets []struct {
			PromTarget
			ScrapePool string `json:"scrapePool"`
		} `json:"activeTargets"`
	}
	if err := p.get(ctx, "/api/v1/targets", url.Values{"state": {"active"}}, &data); err != nil {
		return nil, err
	}
	out := make([]PromTarget, 0, len(data.ActiveTargets))
	for _, t := range data.ActiveTargets {
		t.PromTarget.Job = t.ScrapePool
		out = append(out, t.PromTarget)
	}
	return out, nil
}

// WaitScrapedAfter waits until every target of each job is up and was last
// scraped after t: a query then sees what the targets exposed at t.
func (p *Prometheus) WaitScrapedAfter(ctx context.Context, t time.Time, jobs ...string) error {
	return Poll(ctx, fmt.Sprintf("prometheus scrapes %v after %s", jobs, t.Format(time.RFC3339Nano)), func(ctx context.Context) (bool, string, error) {
		targets, err := p.Targets(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		for _, job := range jobs {
			n := 0
			for _, tg := range targets {
				if tg.Job != job {
					continue
				}
				n++
				if tg.Health != "up" || !tg.LastScrape.After(t) {
					return false, fmt.Sprintf("%s %s: %s, last scrape %s %s", job, tg.ScrapeURL, tg.Health, tg.LastScrape.Format(time.RFC3339Nano), tg.LastError), nil
				}
			}
			if n == 0 {
				return false, "no target for job " + job, nil
			}
		}
		return true, "", nil
	})
}
