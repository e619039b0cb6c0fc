package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/crewtrace/crewtrace/pricing"
)

// RepriceResult says what Reprice did.
type RepriceResult struct {
	// Traces is the number of priced trace rows looked at.
	Traces int
	// Changed is the number of trace rows whose cost, unpriced calls or
	// price table changed.
	Changed int
	// Mixed counts models left as they were because some but not all of
	// their calls reported their own cost (the stored tokens cannot be split).
	Mixed int
}

// repricePage is how many trace rows one Reprice transaction handles.
const repricePage = 200

// Reprice recomputes the cost of the trace rows that started at or after
// since (all when zero) with table, from each row's stored per-model tokens,
// and the totals of their sessions:
//
//   - a model whose calls all reported their cost keeps it; a model some of
//     whose calls did is left as it is (counted in Mixed);
//   - otherwise the model's summed tokens are priced at the trace's start,
//     the long-context tier chosen by the average call (exact unless the
//     model's calls straddle a threshold); a model the table cannot price
//     becomes unpriced;
//   - calls outside the models list (no model name, or beyond the record's
//     64 models) keep their cost;
//   - each agent's cost is scaled by the trace's change (exact when the
//     trace's calls are of one model; the store keeps no agent-by-model
//     breakdown), or split by the agents' tokens when the trace cost nothing
//     before.
//
// The stored record's cost fields are rewritten with the new figures and the
// table's version. Reprice is idempotent: a row whose figures do not change
// is not written, so running it twice with one table changes nothing the
// second time (not even the tail position). Rows stored before pricing
// (no cost in their record) are left alone.
func (s *Store) Reprice(ctx context.Context, table *pricing.Table, since time.Time) (RepriceResult, error) {
	var res RepriceResult
	if s.cfg.readOnly {
		return res, ErrReadOnly
	}
	if err := s.ensureSchema(ctx); err != nil {
		return res, err
	}
	sinceUs := int64(math.MinInt64)
	if !since.IsZero() {
		sinceUs = since.UnixMicro()
	}
	after := [3]string{}
	for {
		rows, err := s.repriceRows(ctx, sinceUs, after)
		if err != nil {
			return res, err
		}
		if len(rows) == 0 {
			return res, nil
		}
		var stmts []stmt
		sessions := map[string]bool{}
		for i := range rows {
			r := &rows[i]
			res.Traces++
			st, changed, mixed := r.reprice(table)
			res.Mixed += mixed
			if changed {
				res.Changed++
				stmts = append(stmts, st...)
				sessions[r.sessionKey] = true
			}
		}
		if len(stmts) > 0 {
			all := append([]stmt{{sql: bumpSeq}}, stmts...)
			for k := range sessions {
				all = append(all, stmt{sql: upsertSession, args: []any{k}})
			}
			if err := s.writeStmts(ctx, all); err != nil {
				return res, fmt.Errorf("store: reprice: %w", s.redact(err))
			}
		}
		last := rows[len(rows)-1]
		after = [3]string{last.sessionKey, last.traceID, last.fragment}
		if len(rows) < repricePage {
			return res, nil
		}
	}
}

func (s *Store) writeStmts(ctx context.Context, stmts []stmt) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	return s.b.runTx(ctx, stmts)
}

// repriceRow is a trace row with what Reprice needs.
type repriceRow struct {
	sessionKey, traceID, fragment string
	startUs                       int64
	costUSD                       float64
	unpriced                      int64
	priceTable                    string
	record                        []byte
	models                        []repriceModel
	agents                        []repriceAgent
}

type repriceModel struct {
	ordinal                                             int64
	provider, model                                     string
	calls, in, out, cacheRead, cacheWrite, cacheWrite1h int64
	reasoning, priced, reported, unpriced               int64
	costUSD, reportedUSD                                float64
}

type repriceAgent struct {
	ordinal int64
	tokens  int64
	costUSD float64
}

// repriceRows reads the next page of priced trace rows after the key after.
func (s *Store) repriceRows(ctx context.Context, sinceUs int64, after [3]string) ([]repriceRow, error) {
	db := s.b.reader()
	q, err := db.QueryContext(ctx, `SELECT session_key, trace_id, fragment, start_us, cost_usd, unpriced_calls,
		price_table, record FROM crewtrace_traces
		WHERE costed = 1 AND chosen = 1 AND start_us >= $1 AND (session_key, trace_id, fragment) > ($2, $3, $4)
		ORDER BY session_key, trace_id, fragment LIMIT $5`, sinceUs, after[0], after[1], after[2], repricePage)
	if err != nil {
		return nil, fmt.Errorf("store: reprice: %w", s.redact(err))
	}
	var out []repriceRow
	for q.Next() {
		var r repriceRow
		var rec string
		if err := q.Scan(&r.sessionKey, &r.traceID, &r.fragment, &r.startUs, &r.costUSD, &r.unpriced, &r.priceTable, &rec); err != nil {
			q.Close()
			return nil, fmt.Errorf("store: reprice: %w", s.redact(err))
		}
		r.record = []byte(rec)
		out = append(out, r)
	}
	q.Close()
	if err := q.Err(); err != nil {
		return nil, fmt.Errorf("store: reprice: %w", s.redact(err))
	}
	for i := range out {
		r := &out[i]
		mq, err := db.QueryContext(ctx, `SELECT ordinal, provider, model, llm_calls, input_tokens, output_tokens,
			cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, priced_calls,
			reported_calls, unpriced_calls, cost_usd, reported_usd FROM crewtrace_trace_models
			WHERE session_key = $1 AND trace_id = $2 AND fragment = $3 ORDER BY ordinal`, r.sessionKey, r.traceID, r.fragment)
		if err != nil {
			return nil, fmt.Errorf("store: reprice: %w", s.redact(err))
		}
		for mq.Next() {
			var m repriceModel
			if err := mq.Scan(&m.ordinal, &m.provider, &m.model, &m.calls, &m.in, &m.out, &m.cacheRead, &m.cacheWrite,
				&m.cacheWrite1h, &m.reasoning, &m.priced, &m.reported, &m.unpriced, &m.costUSD, &m.reportedUSD); err != nil {
				mq.Close()
				return nil, fmt.Errorf("store: reprice: %w", s.redact(err))
			}
			r.models = append(r.models, m)
		}
		mq.Close()
		aq, err := db.QueryContext(ctx, `SELECT ordinal, total_tokens, cost_usd FROM crewtrace_trace_agents
			WHERE session_key = $1 AND trace_id = $2 AND fragment = $3 ORDER BY ordinal`, r.sessionKey, r.traceID, r.fragment)
		if err != nil {
			return nil, fmt.Errorf("store: reprice: %w", s.redact(err))
		}
		for aq.Next() {
			var a repriceAgent
			if err := aq.Scan(&a.ordinal, &a.tokens, &a.costUSD); err != nil {
				aq.Close()
				return nil, fmt.Errorf("store: reprice: %w", s.redact(err))
			}
			r.agents = append(r.agents, a)
		}
		aq.Close()
	}
	return out, nil
}

// same reports whether two costs are equal to within rounding.
func same(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(a)) }

// reprice computes the row's new figures and the statements that store
// them; changed is false when nothing differs.
func (r *repriceRow) reprice(table *pricing.Table) (stmts []stmt, changed bool, mixed int) {
	at := time.UnixMicro(r.startUs).UTC()
	var oldModels, newModels float64
	var oldUnpriced, newUnpriced int64
	changed = r.priceTable != table.Version()
	for i := range r.models {
		m := &r.models[i]
		oldModels += m.costUSD
		oldUnpriced += m.unpriced
		switch {
		case m.reported == m.calls:
		case m.reported > 0:
			mixed++
		default:
			cost, priced, unpriced := 0.0, m.calls, int64(0)
			e, ok := table.Match(m.provider, m.model)
			if ok {
				var err error
				cost, err = e.CostOfCalls(pricing.Usage{Input: m.in, Output: m.out, CacheRead: m.cacheRead, CacheWrite: m.cacheWrite,
					CacheWrite1h: m.cacheWrite1h, Reasoning: m.reasoning}, m.calls, at)
				ok = err == nil && !math.IsNaN(cost) && !math.IsInf(cost, 0)
			}
			if !ok {
				cost, priced, unpriced = 0, 0, m.calls
			}
			if !same(cost, m.costUSD) || priced != m.priced || unpriced != m.unpriced {
				changed = true
				m.costUSD, m.priced, m.unpriced = cost, priced, unpriced
				stmts = append(stmts, stmt{sql: `UPDATE crewtrace_trace_models SET cost_usd = $1, priced_calls = $2,
					unpriced_calls = $3 WHERE session_key = $4 AND trace_id = $5 AND fragment = $6 AND ordinal = $7`,
					args: []any{cost, priced, unpriced, r.sessionKey, r.traceID, r.fragment, m.ordinal}})
			}
		}
		newModels += m.costUSD
		newUnpriced += m.unpriced
	}
	if !changed {
		return nil, false, mixed
	}
	oldCost := r.costUSD
	newCost := max(oldCost-oldModels, 0) + newModels
	unpriced := max(r.unpriced-oldUnpriced, 0) + newUnpriced
	var tokens int64
	for _, a := range r.agents {
		tokens += a.tokens
	}
	for i := range r.agents {
		a := &r.agents[i]
		switch {
		case oldCost > 0:
			a.costUSD *= newCost / oldCost
		case tokens > 0:
			a.costUSD = newCost * float64(a.tokens) / float64(tokens)
		}
		stmts = append(stmts, stmt{sql: `UPDATE crewtrace_trace_agents SET cost_usd = $1
			WHERE session_key = $2 AND trace_id = $3 AND fragment = $4 AND ordinal = $5`,
			args: []any{a.costUSD, r.sessionKey, r.traceID, r.fragment, a.ordinal}})
	}
	doc, err := r.patchRecord(newCost, unpriced, table.Version())
	if err != nil {
		doc = r.record // keep the stored document rather than lose it
	}
	stmts = append(stmts, stmt{sql: `UPDATE crewtrace_traces SET cost_usd = $1, unpriced_calls = $2, price_table = $3,
		record = $4, seq = ` + curSeq + ` WHERE session_key = $5 AND trace_id = $6 AND fragment = $7`,
		args: []any{newCost, unpriced, table.Version(), string(doc), r.sessionKey, r.traceID, r.fragment}})
	return stmts, true, mixed
}

// patchRecord rewrites the cost fields of the stored record and leaves
// every other field as it is (fields this package does not know included).
func (r *repriceRow) patchRecord(cost float64, unpriced int64, version string) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(r.record))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if c, ok := doc["cost"].(map[string]any); ok {
		c["usd"], c["unpriced_calls"], c["price_table"] = cost, unpriced, version
		if names := r.unpricedModels(c["unpriced_models"]); len(names) > 0 {
			c["unpriced_models"] = names
		} else {
			delete(c, "unpriced_models")
		}
	}
	if ms, ok := doc["models"].([]any); ok {
		for _, m := range r.models {
			if int(m.ordinal) < len(ms) {
				if mm, ok := ms[m.ordinal].(map[string]any); ok {
					if c, ok := mm["cost"].(map[string]any); ok {
						c["usd"], c["priced_calls"], c["unpriced_calls"] = m.costUSD, m.priced, m.unpriced
					}
				}
			}
		}
	}
	if as, ok := doc["agents"].([]any); ok {
		for _, a := range r.agents {
			if int(a.ordinal) < len(as) {
				if am, ok := as[a.ordinal].(map[string]any); ok {
					if c, ok := am["cost"].(map[string]any); ok {
						c["usd"] = a.costUSD
					}
				}
			}
		}
	}
	return json.Marshal(doc)
}

// unpricedModels is the record's new unpriced_models: the stored names of
// models outside the models list, and each listed model with unpriced
// calls, as "provider/model" ("model" without a provider), sorted.
func (r *repriceRow) unpricedModels(stored any) []string {
	name := func(provider, model string) string {
		if provider == "" {
			return model
		}
		return provider + "/" + model
	}
	listed := map[string]bool{}
	set := map[string]bool{}
	for _, m := range r.models {
		n := name(m.provider, m.model)
		listed[n] = true
		if m.unpriced > 0 {
			set[n] = true
		}
	}
	if old, ok := stored.([]any); ok {
		for _, v := range old {
			if n, ok := v.(string); ok && !listed[n] {
				set[n] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
