package pricing

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
)

// Errors of Price. Each is wrapped with the provider and model concerned.
var (
	// ErrUnknownModel: no entry matches the provider and model.
	ErrUnknownModel = errors.New("pricing: no price for model")
	// ErrMissingPrice: an entry matches but states no price for a kind of
	// token the call used (cache reads, cache writes, 1-hour cache writes).
	ErrMissingPrice = errors.New("pricing: model has no price for")
	// ErrInvalidTable: a table document or one of its entries is invalid.
	ErrInvalidTable = errors.New("pricing: invalid price table")
)

// Match kinds of an entry.
const (
	// MatchFamily (the default) matches the model name itself and the name
	// followed by a version suffix: a date (-20250929, -2024-08-06,
	// @20250929, -0613), a three-digit revision (-001), -latest, or a
	// Bedrock-style -vN[:N]. "gpt-4o" matches "gpt-4o-2024-08-06" but not "gpt-4o-mini".
	MatchFamily = "family"
	// MatchExact matches the model name only.
	MatchExact = "exact"
	// MatchPattern matches model names against a shell pattern (path.Match:
	// * and ?, [ranges]) in Model.
	MatchPattern = "pattern"
)

// Usage is one call's token counts in the GenAI convention's terms.
type Usage struct {
	// Input counts every input token, cache reads and writes included.
	Input int64
	// Output counts every output token, reasoning included.
	Output int64
	// CacheRead is the part of Input read from the provider's cache.
	CacheRead int64
	// CacheWrite is the part of Input written to the provider's cache (all
	// lifetimes).
	CacheWrite int64
	// CacheWrite1h is the part of CacheWrite written with a one-hour lifetime.
	CacheWrite1h int64
	// Reasoning is the part of Output spent on reasoning.
	Reasoning int64
}

// Prices are the prices of one model over one period, in USD per million
// tokens. A nil price is not published (for this model, or in this tier:
// see Tier).
type Prices struct {
	Input        *float64 `json:"input,omitempty"`
	Output       *float64 `json:"output,omitempty"`
	CacheRead    *float64 `json:"cache_read,omitempty"`
	CacheWrite   *float64 `json:"cache_write,omitempty"`
	CacheWrite1h *float64 `json:"cache_write_1h,omitempty"`
	Reasoning    *float64 `json:"reasoning,omitempty"`
}

// Tier is a long-context tier: its prices apply to every token of a call
// whose input (cache reads and writes included) is above AboveInputTokens.
// A price the tier does not state is the period's.
type Tier struct {
	AboveInputTokens int64 `json:"above_input_tokens"`
	Prices
}

// Period is a model's prices from a date on.
type Period struct {
	// From is the first day (UTC, YYYY-MM-DD) the prices apply to calls; ""
	// for the earliest period.
	From string `json:"from,omitempty"`
	Prices
	// Tiers are the long-context tiers, any order.
	Tiers []Tier `json:"tiers,omitempty"`

	from time.Time
}

// Entry is one model of a table.
type Entry struct {
	// Provider is the provider the prices are published by, in the GenAI
	// convention's names (openai, anthropic, gcp.gemini, deepseek ...).
	Provider string `json:"provider"`
	// Model is the model name, or a pattern for MatchPattern.
	Model string `json:"model"`
	// Match is MatchFamily (default), MatchExact or MatchPattern.
	Match string `json:"match,omitempty"`
	// Periods hold the prices, oldest first.
	Periods []Period `json:"periods"`
	// Source is the page the prices were read from.
	Source string `json:"source"`
	// Checked is the day (YYYY-MM-DD) the prices were last checked there.
	Checked string `json:"checked"`
	// Note says anything a reader of the prices should know.
	Note string `json:"note,omitempty"`

	provider string // canonical
	model    string // lower case
}

// document is a table file.
type document struct {
	Version string  `json:"version"`
	Models  []Entry `json:"models"`
}

// Table is a price table. It is immutable and safe for concurrent use.
type Table struct {
	version string
	entries []*Entry // user entries before default ones (see Merge)
	exact   map[key]*Entry
	family  map[key]*Entry
	pattern []*Entry

	cache sync.Map // key -> *Entry (nil: no match); bounded by cacheLen
	// cacheLen counts cached keys; past maxCache nothing more is cached, so
	// client-chosen model names cannot grow it without bound.
	cacheMu  sync.Mutex
	cacheLen int
}

type key struct{ provider, model string }

// maxCache bounds the lookup cache.
const maxCache = 4096

//go:embed default.json
var defaultJSON []byte

var defaultTable = sync.OnceValues(func() (*Table, error) { return Parse(defaultJSON, "default.json") })

// Default returns the embedded table. It panics if the embedded document is
// invalid, which its tests rule out.
func Default() *Table {
	t, err := defaultTable()
	if err != nil {
		panic(err)
	}
	return t
}

// DefaultJSON returns the embedded table's document.
func DefaultJSON() []byte { return bytes.Clone(defaultJSON) }

// Load reads a table document from a file (see Parse).
func Load(file string) (*Table, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidTable, err)
	}
	return Parse(b, file)
}

// Parse reads a table document: {"version": "...", "models": [entries]}.
// Every entry is checked; the error names each invalid one (by index,
// provider and model) and the file.
func Parse(doc []byte, name string) (*Table, error) {
	var d struct {
		Version string            `json:"version"`
		Models  []json.RawMessage `json:"models"`
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidTable, name, err)
	}
	if strings.TrimSpace(d.Version) == "" {
		return nil, fmt.Errorf("%w: %s: version is empty", ErrInvalidTable, name)
	}
	var errs []error
	entries := make([]*Entry, 0, len(d.Models))
	for i, raw := range d.Models {
		e := &Entry{}
		// Strictly, so that a misspelt key is an error naming its entry;
		// the names for the message are read leniently first.
		_ = json.Unmarshal(raw, e)
		named := fmt.Errorf("%w: %s: models[%d] (provider %q, model %q)", ErrInvalidTable, name, i, e.Provider, e.Model)
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		*e = Entry{}
		err := dec.Decode(e)
		if err == nil {
			err = e.init()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", named, err))
			continue
		}
		entries = append(entries, e)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return build(d.Version, entries)
}

// build indexes entries; the first entry of a (provider, model, match)
// wins, and two entries for the same one in one document are an error.
func build(version string, entries []*Entry) (*Table, error) {
	t := &Table{version: version, exact: map[key]*Entry{}, family: map[key]*Entry{}}
	seen := map[string]bool{}
	for _, e := range entries {
		id := e.provider + "\x00" + e.model + "\x00" + e.Match
		if seen[id] {
			continue
		}
		seen[id] = true
		t.entries = append(t.entries, e)
		k := key{e.provider, e.model}
		switch e.Match {
		case MatchExact:
			t.exact[k] = e
		case MatchFamily:
			t.family[k] = e
		case MatchPattern:
			t.pattern = append(t.pattern, e)
		}
	}
	return t, nil
}

// Merge returns a table of over's entries and then t's: an entry of over
// replaces t's entry of the same provider, model and match kind, and is
// preferred to t's other matches of the same kind. Its version is
// "<t's version>+<over's version>".
func (t *Table) Merge(over *Table) *Table {
	all := append(slices.Clone(over.entries), t.entries...)
	m, _ := build(t.version+"+"+over.version, all)
	return m
}

// Version is the table's version: the document's version string, and the
// override's after a "+" for a merged table.
func (t *Table) Version() string { return t.version }

// Entries returns the table's entries (a copy of each).
func (t *Table) Entries() []Entry {
	out := make([]Entry, len(t.entries))
	for i, e := range t.entries {
		out[i] = *e
	}
	return out
}

// init checks and normalises an entry.
func (e *Entry) init() error {
	if e.Match == "" {
		e.Match = MatchFamily
	}
	switch e.Match {
	case MatchFamily, MatchExact:
	case MatchPattern:
		if _, err := path.Match(e.Model, ""); err != nil {
			return fmt.Errorf("pattern: %w", err)
		}
	default:
		return fmt.Errorf("match %q: want %s, %s or %s", e.Match, MatchFamily, MatchExact, MatchPattern)
	}
	if strings.TrimSpace(e.Model) == "" {
		return errors.New("model is empty")
	}
	if strings.TrimSpace(e.Provider) == "" {
		return errors.New("provider is empty")
	}
	e.provider, e.model = CanonicalProvider(e.Provider), strings.ToLower(e.Model)
	if len(e.Periods) == 0 {
		return errors.New("no periods")
	}
	var prev time.Time
	for i := range e.Periods {
		p := &e.Periods[i]
		if p.From == "" {
			if i > 0 {
				return fmt.Errorf("periods[%d]: only the first period may omit from", i)
			}
		} else {
			d, err := time.Parse(time.DateOnly, p.From)
			if err != nil {
				return fmt.Errorf("periods[%d]: from %q: want YYYY-MM-DD", i, p.From)
			}
			if i > 0 && !d.After(prev) {
				return fmt.Errorf("periods[%d]: from %s is not after the previous period's", i, p.From)
			}
			p.from, prev = d, d
		}
		if p.Input == nil || p.Output == nil {
			return fmt.Errorf("periods[%d]: input and output prices are required", i)
		}
		if err := p.Prices.check(); err != nil {
			return fmt.Errorf("periods[%d]: %w", i, err)
		}
		slices.SortFunc(p.Tiers, func(a, b Tier) int { return int(a.AboveInputTokens - b.AboveInputTokens) })
		for j, tr := range p.Tiers {
			if tr.AboveInputTokens <= 0 {
				return fmt.Errorf("periods[%d]: tier above_input_tokens %d: want > 0", i, tr.AboveInputTokens)
			}
			if j > 0 && tr.AboveInputTokens == p.Tiers[j-1].AboveInputTokens {
				return fmt.Errorf("periods[%d]: two tiers above %d input tokens", i, tr.AboveInputTokens)
			}
			if err := tr.Prices.check(); err != nil {
				return fmt.Errorf("periods[%d]: tier above %d: %w", i, tr.AboveInputTokens, err)
			}
		}
	}
	if e.Checked != "" {
		if _, err := time.Parse(time.DateOnly, e.Checked); err != nil {
			return fmt.Errorf("checked %q: want YYYY-MM-DD", e.Checked)
		}
	}
	return nil
}

// maxPrice bounds a price ($ per million tokens): a larger one is a typo.
const maxPrice = 100_000

func (p *Prices) check() error {
	for _, f := range []struct {
		name string
		v    *float64
	}{{"input", p.Input}, {"output", p.Output}, {"cache_read", p.CacheRead}, {"cache_write", p.CacheWrite},
		{"cache_write_1h", p.CacheWrite1h}, {"reasoning", p.Reasoning}} {
		if f.v != nil && (math.IsNaN(*f.v) || *f.v < 0 || *f.v > maxPrice) {
			return fmt.Errorf("%s price %v: want 0..%d", f.name, *f.v, maxPrice)
		}
	}
	return nil
}

// providerAliases maps provider names other instrumentations write to the
// names entries use. Resellers and clouds that price apart (Azure OpenAI,
// Bedrock, Vertex AI, OpenRouter) are not aliased: their calls match only
// entries of their own.
var providerAliases = map[string]string{
	"gemini":       "gcp.gemini",
	"google":       "gcp.gemini",
	"google_genai": "gcp.gemini",
	"googleai":     "gcp.gemini",
	"mistral":      "mistral_ai",
	"mistralai":    "mistral_ai",
	"xai":          "x_ai",
	"claude":       "anthropic",
}

// CanonicalProvider returns the name entries use for a provider name: lower
// case, with the aliases other conventions write mapped to the GenAI
// convention's name.
func CanonicalProvider(p string) string {
	p = strings.ToLower(strings.TrimSpace(p))
	if a, ok := providerAliases[p]; ok {
		return a
	}
	return p
}

// Match returns the entry a call of model by provider is priced with.
// provider may be empty (the instrumentation did not say): then an entry of
// any provider matches, if only one provider's entries do. The lookup is
// cached per distinct (provider, model).
func (t *Table) Match(provider, model string) (*Entry, bool) {
	k := key{provider, model}
	if v, ok := t.cache.Load(k); ok {
		e := v.(*Entry)
		return e, e != nil
	}
	e := t.lookup(CanonicalProvider(provider), normaliseModel(model))
	t.cacheMu.Lock()
	if t.cacheLen < maxCache {
		if _, loaded := t.cache.LoadOrStore(k, e); !loaded {
			t.cacheLen++
		}
	}
	t.cacheMu.Unlock()
	return e, e != nil
}

// normaliseModel lower-cases a model name and drops the "models/" prefix
// the Gemini API's resource names carry.
func normaliseModel(m string) string {
	m = strings.ToLower(strings.TrimSpace(m))
	return strings.TrimPrefix(m, "models/")
}

func (t *Table) lookup(provider, model string) *Entry {
	if model == "" {
		return nil
	}
	if provider == "" {
		return t.lookupAnyProvider(model)
	}
	if e := t.exact[key{provider, model}]; e != nil {
		return e
	}
	// The longest family name the model starts with, followed by a version suffix.
	for end := len(model); end > 0; end-- {
		if end < len(model) && !isSuffixStart(model[end]) {
			continue
		}
		if e := t.family[key{provider, model[:end]}]; e != nil && versionSuffix(model[end:]) {
			return e
		}
	}
	for _, e := range t.pattern {
		if e.provider == provider {
			if ok, _ := path.Match(e.model, model); ok {
				return e
			}
		}
	}
	return nil
}

// lookupAnyProvider matches a model without a provider: the match of the
// one provider that has one; none when two providers' entries match.
func (t *Table) lookupAnyProvider(model string) *Entry {
	var found *Entry
	seen := map[string]bool{}
	for _, e := range t.entries {
		if seen[e.provider] {
			continue
		}
		seen[e.provider] = true
		if m := t.lookup(e.provider, model); m != nil {
			if found != nil && found.provider != m.provider {
				return nil
			}
			found = m
		}
	}
	return found
}

func isSuffixStart(c byte) bool { return c == '-' || c == '@' }

// versionSuffix reports whether s is empty or a sequence of version
// suffixes: -YYYYMMDD, @YYYYMMDD, -YYYY-MM-DD, -MMDD, -NNN, -latest, -vN, -vN:N.
func versionSuffix(s string) bool {
	for s != "" {
		if !isSuffixStart(s[0]) {
			return false
		}
		s = s[1:]
		n := 0
		for n < len(s) && !isSuffixStart(s[n]) {
			n++
		}
		part := s[:n]
		s = s[n:]
		switch {
		case part == "latest":
		case len(part) == 8 && digits(part): // 20250929
		case len(part) == 3 && digits(part): // 001
		case len(part) == 4 && digits(part) && len(s) >= 6 && s[0] == '-' && digits(s[1:3]) && s[3] == '-' && digits(s[4:6]) &&
			(len(s) == 6 || isSuffixStart(s[6])): // 2024-08-06
			s = s[6:]
		case len(part) == 4 && digits(part): // 0613
		case len(part) >= 2 && part[0] == 'v' && versionNumber(part[1:]): // v1, v2:0
		default:
			return false
		}
	}
	return true
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func versionNumber(s string) bool {
	a, b, found := strings.Cut(s, ":")
	return digits(a) && (!found || digits(b))
}

// Period returns the entry's prices for a call made at the given time:
// the last period whose From is not after it.
func (e *Entry) Period(at time.Time) *Period {
	p := &e.Periods[0]
	for i := 1; i < len(e.Periods); i++ {
		if at.Before(e.Periods[i].from) {
			break
		}
		p = &e.Periods[i]
	}
	return p
}

// Cost prices one call of usage u made at the given time with the entry's
// prices. See the package documentation for the formula.
func (e *Entry) Cost(u Usage, at time.Time) (float64, error) {
	p := e.Period(at)
	ps := p.Prices
	for i := len(p.Tiers) - 1; i >= 0; i-- {
		if u.Input > p.Tiers[i].AboveInputTokens {
			ps = ps.with(&p.Tiers[i].Prices)
			break
		}
	}
	u = u.clean()
	uncached := u.Input - u.CacheRead - u.CacheWrite
	writes5m := u.CacheWrite - u.CacheWrite1h
	text := u.Output - u.Reasoning
	var usd float64
	add := func(n int64, price *float64, what string) error {
		if n == 0 {
			return nil
		}
		if price == nil {
			return fmt.Errorf("%w %s tokens (%s %s)", ErrMissingPrice, what, e.Provider, e.Model)
		}
		usd += float64(n) * *price
		return nil
	}
	reasoning := ps.Reasoning
	if reasoning == nil {
		reasoning = ps.Output
	}
	if err := errors.Join(
		add(uncached, ps.Input, "input"),
		add(u.CacheRead, ps.CacheRead, "cache-read"),
		add(writes5m, ps.CacheWrite, "cache-write"),
		add(u.CacheWrite1h, ps.CacheWrite1h, "1-hour cache-write"),
		add(text, ps.Output, "output"),
		add(u.Reasoning, reasoning, "reasoning"),
	); err != nil {
		return 0, err
	}
	return usd / 1e6, nil
}

// with returns p with the prices o states.
func (p Prices) with(o *Prices) Prices {
	set := func(dst **float64, v *float64) {
		if v != nil {
			*dst = v
		}
	}
	set(&p.Input, o.Input)
	set(&p.Output, o.Output)
	set(&p.CacheRead, o.CacheRead)
	set(&p.CacheWrite, o.CacheWrite)
	set(&p.CacheWrite1h, o.CacheWrite1h)
	set(&p.Reasoning, o.Reasoning)
	return p
}

// clean makes counts consistent: none negative, parts no larger than
// their whole (any OTLP client writes these numbers).
func (u Usage) clean() Usage {
	u.Input, u.Output = max(u.Input, 0), max(u.Output, 0)
	u.CacheRead = min(max(u.CacheRead, 0), u.Input)
	u.CacheWrite = min(max(u.CacheWrite, 0), u.Input-u.CacheRead)
	u.CacheWrite1h = min(max(u.CacheWrite1h, 0), u.CacheWrite)
	u.Reasoning = min(max(u.Reasoning, 0), u.Output)
	return u
}

// Price prices one call: the matching entry's Cost. It returns
// ErrUnknownModel (wrapped) when no entry matches.
func (t *Table) Price(provider, model string, at time.Time, u Usage) (float64, error) {
	e, ok := t.Match(provider, model)
	if !ok {
		return 0, fmt.Errorf("%w %q of provider %q", ErrUnknownModel, model, provider)
	}
	return e.Cost(u, at)
}

// CostOfCalls prices calls calls whose summed usage is u, each taken as
// the average call (u / calls) for the choice of long-context tier: exact
// when the calls fall in the same tier. This is how stored per-model
// totals are repriced (the store keeps no per-call tokens).
func (e *Entry) CostOfCalls(u Usage, calls int64, at time.Time) (float64, error) {
	if calls <= 1 {
		return e.Cost(u, at)
	}
	p := e.Period(at)
	avg := u.Input / calls
	var tier *Tier
	for i := len(p.Tiers) - 1; i >= 0; i-- {
		if avg > p.Tiers[i].AboveInputTokens {
			tier = &p.Tiers[i]
			break
		}
	}
	// Price the totals with the tier the average call falls in: a copy of
	// the entry whose period has that tier's prices and no tiers.
	one := *e
	q := *p
	if tier != nil {
		q.Prices = q.Prices.with(&tier.Prices)
	}
	q.Tiers, q.from = nil, time.Time{}
	one.Periods = []Period{q}
	return one.Cost(u, at)
}
