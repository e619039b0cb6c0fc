package otelsession

import (
	"context"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crewtrace/crewtrace/pricing"
)

// The end-of-session summary, AgentOps' line: opt-in with WithSummary.
//
//	StartLLMCall / StartToolCall ─▶ count the call
//	LLMCall.End ─▶ tokens; cost: the reported one, else the price table at the call's start, else unpriced
//	RecordAction / RecordError, a call or agent ended with an error ─▶ count
//	Session.End ─▶ one slog line
//
// A session without WithSummary has no summary and pays nothing for it.

// WithSummary makes the session log one line to logger when it ends (at
// level Info), as AgentOps prints at the end of a session:
//
//	session triage: Success | 2.31s | LLM 4 | tools 2 | actions 3 | errors 0 | tokens 1,234 (cached 800) | $0.0123 | http://localhost:16686/trace/4bf9…
//
// Cost is priced as the session exporter prices it: a cost the call reports
// (LLMResponse.CostUSD) as is, else its tokens at the price table's prices
// at the call's start (the embedded default table unless WithPriceTable
// gives another); a call the table cannot price is reported as unpriced and
// named, never taken as $0. Errors count error events and the agents, LLM
// calls and tool calls ended with an error. The trace URL appears with
// WithTraceURL. A nil logger turns the summary off.
func WithSummary(logger *slog.Logger) Option {
	return optionFunc(func(c config) config {
		c.summary = logger
		return c
	})
}

// WithTraceURL sets the Jaeger UI base URL the summary links to:
// <base>/trace/<trace id>, as the session exporter's trace_url_base.
func WithTraceURL(base string) Option {
	return optionFunc(func(c config) config {
		c.traceURLBase = base
		return c
	})
}

// WithPriceTable sets the price table the summary prices calls with
// (default pricing.Default()); a nil table keeps the default.
func WithPriceTable(t *pricing.Table) Option {
	return optionFunc(func(c config) config {
		c.prices = t
		return c
	})
}

// maxUnpricedNames bounds the unpriced model names a summary keeps.
const maxUnpricedNames = 8

// summary holds a session's running totals for its summary line.
type summary struct {
	log     *slog.Logger
	prices  *pricing.Table
	urlBase string

	mu                          sync.Mutex
	llm, tools, actions, errors int64
	tokens, cached              int64
	usd                         float64
	unpriced                    int64
	unpricedNames               []string
	overflow                    bool // more unpriced names than kept
}

func newSummary(c config) *summary {
	if c.summary == nil {
		return nil
	}
	p := c.prices
	if p == nil {
		p = pricing.Default()
	}
	return &summary{log: c.summary, prices: p, urlBase: c.traceURLBase}
}

func (m *summary) add(n *int64) {
	m.mu.Lock()
	*n++
	m.mu.Unlock()
}

// llmEnded adds an ended LLM call's tokens, cost and error.
func (m *summary) llmEnded(provider, model string, start time.Time, resp LLMResponse, err error) {
	if resp.ResponseModel != "" {
		model = resp.ResponseModel
	}
	var usd float64
	priced := true
	switch {
	case resp.CostUSD > 0 && !math.IsInf(resp.CostUSD, 0):
		usd = resp.CostUSD
	default:
		var perr error
		usd, perr = m.prices.Price(provider, model, start, pricing.Usage{
			Input: int64(resp.InputTokens), Output: int64(resp.OutputTokens),
			CacheRead: int64(resp.CacheReadInputTokens), CacheWrite: int64(resp.CacheCreationInputTokens),
			CacheWrite1h: int64(resp.CacheCreation1hInputTokens), Reasoning: int64(resp.ReasoningOutputTokens),
		})
		priced = perr == nil && !math.IsNaN(usd) && !math.IsInf(usd, 0)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tokens += int64(max(resp.InputTokens, 0)) + int64(max(resp.OutputTokens, 0))
	m.cached += int64(max(resp.CacheReadInputTokens, 0))
	if err != nil {
		m.errors++
	}
	if !priced {
		m.unpriced++
		m.unpricedName(provider, model)
		return
	}
	m.usd += usd
}

// unpricedName remembers a model name (under mu), as the exporter names
// unpriced models: "provider/model", or "model" without a provider.
func (m *summary) unpricedName(provider, model string) {
	if model == "" {
		return
	}
	n := model
	if provider != "" {
		n = provider + "/" + model
	}
	if slices.Contains(m.unpricedNames, n) {
		return
	}
	if len(m.unpricedNames) == maxUnpricedNames {
		m.overflow = true
		return
	}
	m.unpricedNames = append(m.unpricedNames, n)
}

// emit logs the summary line of s, which ended with state.
func (m *summary) emit(s *Session, state EndState, d time.Duration) {
	m.mu.Lock()
	var b strings.Builder
	b.WriteString("session")
	if s.name != "" {
		b.WriteString(" ")
		b.WriteString(s.name)
	}
	b.WriteString(": ")
	b.WriteString(string(state))
	b.WriteString(" | ")
	b.WriteString(strconv.FormatFloat(d.Seconds(), 'f', 2, 64))
	b.WriteString("s | LLM ")
	b.WriteString(thousands(m.llm))
	b.WriteString(" | tools ")
	b.WriteString(thousands(m.tools))
	b.WriteString(" | actions ")
	b.WriteString(thousands(m.actions))
	b.WriteString(" | errors ")
	b.WriteString(thousands(m.errors))
	b.WriteString(" | tokens ")
	b.WriteString(thousands(m.tokens))
	if m.cached > 0 {
		b.WriteString(" (cached ")
		b.WriteString(thousands(m.cached))
		b.WriteString(")")
	}
	b.WriteString(" | ")
	b.WriteString(dollars(m.usd))
	if m.unpriced > 0 {
		b.WriteString(" + ")
		b.WriteString(thousands(m.unpriced))
		b.WriteString(" unpriced")
		if len(m.unpricedNames) > 0 {
			names := slices.Clone(m.unpricedNames)
			slices.Sort(names)
			b.WriteString(" (")
			b.WriteString(strings.Join(names, ", "))
			if m.overflow {
				b.WriteString(", …")
			}
			b.WriteString(")")
		}
	}
	if m.urlBase != "" && s.traceID.IsValid() {
		b.WriteString(" | ")
		b.WriteString(strings.TrimRight(m.urlBase, "/"))
		b.WriteString("/trace/")
		b.WriteString(s.traceID.String())
	}
	usd, unpriced := m.usd, m.unpriced
	m.mu.Unlock()
	// The figures also go as attributes, for a handler that indexes them.
	m.log.LogAttrs(context.Background(), slog.LevelInfo, b.String(),
		slog.String("session.id", s.id), slog.String("end_state", string(state)),
		slog.Float64("cost_usd", usd), slog.Int64("unpriced_calls", unpriced))
}

// thousands formats n with comma thousands separators (1,234).
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// dollars formats a cost: four decimals from a cent up ($0.0123), more
// below so a small cost does not read as $0.0000, trailing zeros trimmed.
func dollars(usd float64) string {
	if usd == 0 {
		return "$0"
	}
	if usd >= 0.01 {
		return "$" + strconv.FormatFloat(usd, 'f', 4, 64)
	}
	s := strconv.FormatFloat(usd, 'f', 8, 64)
	s = strings.TrimRight(s, "0")
	return "$" + strings.TrimSuffix(s, ".")
}
