package otelsession

import (
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
type nameCache [512]atomic.Pointer[nameEntry]

type nameEntry struct {
	kind uint8
	a, b string
	v    string
}

var names nameCache

func (c *nameCache) get(kind uint8, a, b string) string {
	h := uint32(2166136261) ^ uint32(kind) // FNV-1a over kind, a, b
	for i := 0; i < len(a); i++ {
		h = (h ^ uint32(a[i])) * 16777619
	}
	h = (h ^ 0xff) * 16777619
	for i := 0; i < len(b); i++ {
		h = (h ^ uint32(b[i])) * 16777619
	}
	slot := &c[h%uint32(len(c))]
	if e := slot.Load(); e != nil && e.kind == kind && e.a == a && e.b == b {
		return e.v
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
	slot.Store(&nameEntry{kind: kind, a: a, b: b, v: v})
	return v
}
