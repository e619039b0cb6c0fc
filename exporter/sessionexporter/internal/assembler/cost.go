package assembler

import (
	"math"
	"slices"
	"time"

	"github.com/crewtrace/crewtrace/pricing"
	"github.com/crewtrace/crewtrace/record"
)

// Cost, as the exporter computes it:
//
//	LLM span arrives ─▶ price: reported cost on the span?  ─yes─▶ costReported
//	                           │ no
//	                           ▼
//	                    price table at the span's start ─ok─▶ costPriced
//	                           │ unknown model / missing price
//	                           ▼
//	                    costUnpriced (counted and named, never $0)
//
//	build ─▶ count: each LLM span's cost into the session, its agent and its model
//
// A span is priced once, when it arrives, so a record's revisions never
// reprice it and the cost of a span is part of what the buffer holds.

// price sets the cost of an LLM span: the cost it reports, else its tokens
// priced at its start time (at now for a span without usable times).
func (a *Assembler) price(sp *span, f *found, now int64) {
	if f.hasCost {
		sp.cost, sp.costKind = f.reportedCost, costReported
		return
	}
	at := sp.start
	if sp.badTime {
		at = now
	}
	t := sp.tokens
	usd, err := a.cfg.Prices.Price(f.provider, f.model, time.Unix(0, at).UTC(), pricing.Usage{
		Input: t.Input, Output: t.Output, CacheRead: t.CacheRead, CacheWrite: t.CacheWrite,
		CacheWrite1h: t.CacheWrite1h, Reasoning: t.Reasoning,
	})
	if err != nil || math.IsNaN(usd) || math.IsInf(usd, 0) {
		sp.costKind = costUnpriced
		return
	}
	sp.cost, sp.costKind = usd, costPriced
}

// addCost adds one span's cost to c.
func addCost(c *record.Cost, sp *span) {
	switch sp.costKind {
	case costPriced:
		c.USD += sp.cost
		c.PricedCalls++
	case costReported:
		c.USD += sp.cost
		c.ReportedUSD += sp.cost
		c.ReportedCalls++
	case costUnpriced:
		c.UnpricedCalls++
	}
}

// maxUnpricedNames bounds the unpriced model names of a record (the models
// list is bounded by maxModels; calls beyond are counted only).
const maxUnpricedNames = maxModels

// costs fills the cost of r, its agents and models when pricing is on:
// each LLM span's cost goes to the session, its agent and its model.
func (a *Assembler) costs(ss *session, r *record.Record, agentOf []int) {
	if a.cfg.Prices == nil {
		return
	}
	r.Cost = &record.Cost{Currency: record.Currency, PriceTable: a.cfg.Prices.Version()}
	agents := make([]record.Cost, len(r.Agents))
	models := make([]record.Cost, len(ss.models))
	unpriced := make([]bool, len(ss.models))
	for i := range ss.spans {
		sp := &ss.spans[i]
		if sp.kind != kindLLM {
			continue
		}
		addCost(r.Cost, sp)
		if k := agentOf[i]; k != noAgent {
			addCost(&agents[k], sp)
		}
		if sp.model >= 0 {
			addCost(&models[sp.model], sp)
			if sp.costKind == costUnpriced {
				unpriced[sp.model] = true
			}
		}
	}
	for i := range r.Agents {
		r.Agents[i].Cost = &agents[i]
	}
	for i, m := range ss.models {
		if unpriced[i] && len(r.Cost.UnpricedModels) < maxUnpricedNames {
			name := m.name
			if m.provider != "" {
				name = m.provider + "/" + m.name
			}
			r.Cost.UnpricedModels = append(r.Cost.UnpricedModels, name)
		}
	}
	slices.Sort(r.Cost.UnpricedModels)
	r.Cost.UnpricedModels = slices.Compact(r.Cost.UnpricedModels)
	// r.Models is in ss.models order until count sorts it: match by name.
	for i := range r.Models {
		m := &r.Models[i]
		k := slices.IndexFunc(ss.models, func(x model) bool { return x.provider == m.Provider && x.name == m.Model })
		if k >= 0 {
			m.Cost = &models[k]
		}
	}
}
