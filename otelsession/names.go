package otelsession

import (
	"hash/maphash"
	"sync/atomic"

	"github.com/crewtrace/crewtrace/semconv"
)

// Kinds of strings the name cache builds.
const (
	nameParamKey  = iota // crewtrace.event.param.<b>
	nameAgentSpan        // invoke_agent <b>
	nameLLMSpan          // <a> <b>: operation and model
	nameToolSpan         // execute_tool <b>
)

// nameCache remembers strings built from a few parts: span names of agents,
// LLM and tool calls, and event parameter keys. Programs use the same agent
// names, models, tools and parameter names over and over, so a hit saves
// building (allocating) the string on every span or event. It is
// direct-mapped and lock-free: a collision or a miss only costs the build.
// Session names, usually unique per task, are not cached.
//
// What it buys: building every name instead costs 4.4 % in
// BenchmarkSessionPaired (median-ratio 1.099 against 1.052, 221 against 212
// allocs/op; 1.7-2.2 % in quieter runs, and 3.2-5.6 % with the ID strings of
// uuidstr.go gone too; both builds in one run, benchstat over -count 12:
// go test -run '^$' -bench '^BenchmarkSessionPaired$' -count 12 ./otelsession/).
type nameCache [512]atomic.Pointer[nameEntry]

type nameEntry struct {
	kind uint8
	a, b string
	v    string
}

var names nameCache

// nameSeed seeds the name cache's hash; set once, never changed.
var nameSeed = maphash.MakeSeed()

func (c *nameCache) get(kind uint8, a, b string) string {
	// maphash (AES-based where the CPU has it) is several times faster than
	// a byte-at-a-time hash on names of 10-30 bytes.
	h := maphash.String(nameSeed, b)
	if a != "" {
		h ^= maphash.String(nameSeed, a) * 0x9e3779b97f4a7c15
	}
	h += uint64(kind) * 0x9e3779b97f4a7c15 // kinds land in different slots
	// Two-way set associative: the hash seed is random per process, so two
	// hot names sharing a slot (and evicting each other on every use) would
	// make some runs slower than others; a set holds both.
	set := h % uint64(len(c)) &^ 1
	for w := range uint64(2) {
		if e := c[set+w].Load(); e != nil && e.kind == kind && e.a == a && e.b == b {
			return e.v
		}
	}
	var v string
	switch kind {
	case nameParamKey:
		v = semconv.EventParamPrefix + b
	case nameAgentSpan:
		v = semconv.AgentSpanName(b)
	case nameLLMSpan:
		v = semconv.LLMSpanName(a, b)
	case nameToolSpan:
		v = semconv.ToolSpanName(b)
	}
	e := &nameEntry{kind: kind, a: a, b: b, v: v}
	switch {
	case c[set].Load() == nil:
		c[set].Store(e)
	case c[set+1].Load() == nil:
		c[set+1].Store(e)
	default: // both taken: each name always replaces the same way
		c[set+(h>>32)&1].Store(e)
	}
	return v
}
