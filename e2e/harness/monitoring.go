package harness

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// MonitoringDoc is the page whose PromQL the tests run, relative to the
// checkout root.
const MonitoringDoc = "docs/MONITORING.md"

// NamedQuery is one ```promql block of docs/MONITORING.md: its first line is
// a PromQL comment naming it ("# crewtrace:session_success:ratio_rate5m"),
// the rest is the query.
type NamedQuery struct {
	Name  string
	Query string
}

// MonitoringQueries reads the named PromQL queries of docs/MONITORING.md,
// in the page's order. A promql block without a name, or a name given twice,
// is an error: the tests look queries up by name.
func MonitoringQueries(root string) ([]NamedQuery, error) {
	path := filepath.Join(root, MonitoringDoc)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("harness: %w", err)
	}
	defer f.Close()
	var out []NamedQuery
	seen := map[string]bool{}
	var block []string
	in, line := false, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line++
		text := sc.Text()
		switch {
		case !in && strings.TrimSpace(text) == "```promql":
			in, block = true, nil
		case in && strings.TrimSpace(text) == "```":
			in = false
			if len(block) < 2 || !strings.HasPrefix(block[0], "# ") {
				return nil, fmt.Errorf("harness: %s:%d: a promql block starts with a line naming it (# name), then the query", path, line)
			}
			name := strings.TrimSpace(strings.TrimPrefix(block[0], "# "))
			if seen[name] {
				return nil, fmt.Errorf("harness: %s:%d: query %q named twice", path, line, name)
			}
			seen[name] = true
			out = append(out, NamedQuery{Name: name, Query: strings.TrimSpace(strings.Join(block[1:], "\n"))})
		case in:
			block = append(block, text)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("harness: %s: %w", path, err)
	}
	if in {
		return nil, fmt.Errorf("harness: %s: unterminated promql block", path)
	}
	return out, nil
}

// NormalizePromQL collapses whitespace, so that a query laid out over
// several lines compares equal to the same query laid out otherwise.
func NormalizePromQL(q string) string { return strings.Join(strings.Fields(q), " ") }
