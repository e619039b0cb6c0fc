package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/crewtrace/crewtrace/e2e/harness"
)

// ruleFile is the part of a Prometheus rule file the doc test reads.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record string `yaml:"record"`
			Alert  string `yaml:"alert"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readRuleFile(t *testing.T, root string) ruleFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, harness.PrometheusDir, "crewtrace-rules.yml"))
	require.NoError(t, err)
	var rf ruleFile
	require.NoError(t, yaml.Unmarshal(raw, &rf))
	return rf
}

// TestMonitoringDocMatchesRules: every recording rule is a query of
// docs/MONITORING.md under its name, with the same expression, and every
// crewtrace: query there is a recording rule; every alert is documented.
// With TestPrometheusMonitoring running the page's other queries, the page's
// PromQL is what the tests run.
func TestMonitoringDocMatchesRules(t *testing.T) {
	root := repoRoot(t)
	queries, err := harness.MonitoringQueries(root)
	require.NoError(t, err)
	doc := map[string]string{}
	for _, q := range queries {
		doc[q.Name] = q.Query
	}
	rf := readRuleFile(t, root)
	records := map[string]bool{}
	var alerts []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				alerts = append(alerts, r.Alert)
				continue
			}
			records[r.Record] = true
			q, ok := doc[r.Record]
			if assert.True(t, ok, "recording rule %s is documented in %s", r.Record, harness.MonitoringDoc) {
				assert.Equal(t, harness.NormalizePromQL(r.Expr), harness.NormalizePromQL(q), "%s: the rule's expr is the documented query", r.Record)
			}
		}
	}
	require.NotEmpty(t, records)
	for name := range doc {
		if strings.HasPrefix(name, "crewtrace:") {
			assert.True(t, records[name], "%s in %s is a recording rule of crewtrace-rules.yml", name, harness.MonitoringDoc)
		}
	}
	page, err := os.ReadFile(filepath.Join(root, harness.MonitoringDoc))
	require.NoError(t, err)
	require.NotEmpty(t, alerts)
	for _, a := range alerts {
		assert.Contains(t, string(page), "`"+a+"`", "alert %s is documented", a)
	}
}
