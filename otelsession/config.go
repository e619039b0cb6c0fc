package otelsession

import (
	"log/slog"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/crewtrace/crewtrace/pricing"
	"github.com/crewtrace/crewtrace/semconv"
)

// ScopeName is the instrumentation scope name of the tracer and meter the
// package uses.
const ScopeName = "github.com/crewtrace/crewtrace/otelsession"

// Version is the instrumentation scope version.
const Version = "0.1.0"

// config holds the options of one session.
type config struct {
	name       string
	spanName   string        // semconv.SessionSpanName(name), built by WithName
	attrs      *sessionAttrs // the metrics' attribute sets for name, built by WithName
	tags       []string
	tp         trace.TracerProvider
	mp         metric.MeterProvider
	id         uuid.UUID
	hasID      bool
	link       trace.SpanContext
	maxContent int

	// The summary (summary.go): off without a logger.
	summary      *slog.Logger
	traceURLBase string
	prices       *pricing.Table
}

// Option configures a session started with [Start].
type Option interface {
	apply(config) config
}

// Options pass the config by value, as opentelemetry-go's do: nothing escapes
// to the heap when they are applied.
type optionFunc func(config) config

func (f optionFunc) apply(c config) config { return f(c) }

// WithName sets the session's name: the root span is named "session <name>"
// and the name is recorded as gen_ai.workflow.name and crewtrace.session.name.
// Without it the span is named "session" and no name is recorded.
//
// The name also labels the session metrics (crewtrace.session.name on
// crewtrace.sessions.started, .active, .ended and crewtrace.session.duration),
// so, like a span name, it should name the kind of task ("triage"), not one
// task: put what identifies a task in its tags.
func WithName(name string) Option {
	// The span name and the metric attributes are built here, once per
	// option: a program that reuses its options does not build them for
	// every session.
	spanName := semconv.SessionSpanName(name)
	attrs := newSessionAttrs(name)
	return optionFunc(func(c config) config {
		c.name, c.spanName, c.attrs = name, spanName, attrs
		return c
	})
}

// WithTags adds tags to the session (crewtrace.session.tags). Repeated calls
// accumulate.
func WithTags(tags ...string) Option {
	return optionFunc(func(c config) config {
		c.tags = append(c.tags, tags...)
		return c
	})
}

// WithTracerProvider sets the TracerProvider of the session and of every span
// created in it. The default is the global provider (otel.GetTracerProvider).
// A nil provider (also a typed nil pointer) keeps the default.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c config) config {
		if !isNil(tp) {
			c.tp = tp
		}
		return c
	})
}

// WithMeterProvider sets the MeterProvider the session's metrics are reported
// through. The default is the global provider (otel.GetMeterProvider). A nil
// provider (also a typed nil pointer) keeps the default.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c config) config {
		if !isNil(mp) {
			c.mp = mp
		}
		return c
	})
}

// WithID sets the session's ID instead of a generated random (version 4) UUID.
// The zero UUID (uuid.Nil) keeps the generated one.
func WithID(id uuid.UUID) Option {
	return optionFunc(func(c config) config {
		if id != uuid.Nil {
			c.id, c.hasID = id, true
		}
		return c
	})
}

// WithLink links the session's root span to sc, typically the span that was
// current when the session started. The session stays the root of its own
// trace. An invalid span context is ignored.
func WithLink(sc trace.SpanContext) Option {
	return optionFunc(func(c config) config {
		c.link = sc
		return c
	})
}

// WithContentCapture turns on the recording of content: LLM prompts and
// completions (gen_ai.input.messages / gen_ai.output.messages) and tool
// arguments and results, each truncated to maxBytes bytes (at a UTF-8
// boundary). Content is off by default; maxBytes <= 0 keeps it off.
func WithContentCapture(maxBytes int) Option {
	if maxBytes < 0 {
		maxBytes = 0
	}
	return optionFunc(func(c config) config {
		c.maxContent = maxBytes
		return c
	})
}

// agentConfig holds the options of one agent.
type agentConfig struct {
	id    string
	hasID bool // WithAgentID was given, even with ""
}

// AgentOption configures an agent started with [Session.StartAgent].
type AgentOption interface {
	applyAgent(agentConfig) agentConfig
}

type agentOptionFunc func(agentConfig) agentConfig

func (f agentOptionFunc) applyAgent(c agentConfig) agentConfig { return f(c) }

// WithAgentID sets the agent's ID (gen_ai.agent.id) instead of a generated
// UUID. It must parse as a UUID (any form uuid.Parse accepts; the canonical
// lower-case form is recorded), otherwise StartAgent returns
// [ErrInvalidAgentID] and records nothing.
func WithAgentID(id string) AgentOption {
	return agentOptionFunc(func(c agentConfig) agentConfig {
		c.id, c.hasID = id, true
		return c
	})
}

func newAgentConfig(opts []AgentOption) agentConfig {
	var c agentConfig
	for _, o := range opts {
		if o != nil {
			c = o.applyAgent(c)
		}
	}
	return c
}

// toolConfig holds the options of one tool call.
type toolConfig struct {
	callID    string
	arguments string
	hasArgs   bool
}

// ToolOption configures a tool call started with [StartToolCall].
type ToolOption interface {
	applyTool(toolConfig) toolConfig
}

type toolOptionFunc func(toolConfig) toolConfig

func (f toolOptionFunc) applyTool(c toolConfig) toolConfig { return f(c) }

// WithToolCallID records the tool call's ID (gen_ai.tool.call.id), as given
// by the model.
func WithToolCallID(id string) ToolOption { return toolCallID(id) }

// toolCallID is WithToolCallID's option: a string, not a closure, so a
// constant ID costs no allocation.
type toolCallID string

func (id toolCallID) applyTool(c toolConfig) toolConfig {
	c.callID = string(id)
	return c
}

// WithToolArguments records the tool call's arguments
// (gen_ai.tool.call.arguments). They are content: recorded only when the
// session has content capture on, truncated to its limit.
func WithToolArguments(args string) ToolOption {
	return toolOptionFunc(func(c toolConfig) toolConfig {
		c.arguments, c.hasArgs = args, true
		return c
	})
}

func newToolConfig(opts []ToolOption) toolConfig {
	var c toolConfig
	for _, o := range opts {
		if o != nil {
			c = o.applyTool(c)
		}
	}
	return c
}
