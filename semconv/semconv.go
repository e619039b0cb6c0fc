// Package semconv is the attribute contract between the crewtrace
// instrumentation library (otelsession) and the session exporter.
//
// Every span name pattern, attribute key and enumerated value that the library
// emits and the exporter reads is declared here, once, so the two cannot
// drift. Where the OpenTelemetry semantic conventions define a key (GenAI,
// session.id, error.type) the constant is taken from the OTel semconv Go
// package rather than spelled again. Any OTLP client, in any language, that
// emits these keys gets session records from the exporter.
package semconv

import (
	"go.opentelemetry.io/otel/attribute"
	// GenAI keys were removed from semconv v1.42.0+ (moved to a separate
	// GenAI conventions repository); v1.41.0 is the last Go package with them.
	genai "go.opentelemetry.io/otel/semconv/v1.41.0"
	// General keys follow the newest semconv package.
	otelsemconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// SchemaURL is the OpenTelemetry schema the GenAI keys come from.
const SchemaURL = genai.SchemaURL

// ServiceInstanceIDKey is the resource key naming a collector instance; the
// session exporter's scale_out fragment defaults to it.
const ServiceInstanceIDKey = otelsemconv.ServiceInstanceIDKey

// Keys shared with the OpenTelemetry semantic conventions.
const (
	// SessionIDKey carries the session's UUID on every span the library
	// creates. OpenInference, Langfuse and Phoenix group by this key.
	SessionIDKey = otelsemconv.SessionIDKey
	// ConversationIDKey carries the same UUID under the GenAI convention.
	ConversationIDKey = genai.GenAIConversationIDKey
	// ErrorTypeKey names the class of an error on a failed span. On the
	// crewtrace.events.rejected metric it carries the rejection reason (the
	// EventReject* values).
	ErrorTypeKey = otelsemconv.ErrorTypeKey
	// ExceptionTypeKey is exception.type on "exception" span events.
	ExceptionTypeKey = otelsemconv.ExceptionTypeKey
	// ExceptionMessageKey is exception.message on "exception" span events.
	ExceptionMessageKey = otelsemconv.ExceptionMessageKey
	// ExceptionStacktraceKey is exception.stacktrace on "exception" span
	// events: the library writes a panic's stack there, truncated.
	ExceptionStacktraceKey = otelsemconv.ExceptionStacktraceKey

	// OperationNameKey is gen_ai.operation.name (invoke_agent, chat, execute_tool ...).
	OperationNameKey = genai.GenAIOperationNameKey
	// WorkflowNameKey is gen_ai.workflow.name; the session span sets it to the session name.
	WorkflowNameKey = genai.GenAIWorkflowNameKey
	// AgentNameKey is gen_ai.agent.name on agent spans.
	AgentNameKey = genai.GenAIAgentNameKey
	// AgentIDKey is gen_ai.agent.id (a UUID) on agent spans.
	AgentIDKey = genai.GenAIAgentIDKey
	// ProviderNameKey is gen_ai.provider.name (openai, anthropic ...) on LLM spans.
	ProviderNameKey = genai.GenAIProviderNameKey
	// RequestModelKey is gen_ai.request.model on LLM spans.
	RequestModelKey = genai.GenAIRequestModelKey
	// ResponseModelKey is gen_ai.response.model on LLM spans.
	ResponseModelKey = genai.GenAIResponseModelKey
	// ResponseIDKey is gen_ai.response.id on LLM spans.
	ResponseIDKey = genai.GenAIResponseIDKey
	// FinishReasonsKey is gen_ai.response.finish_reasons (string slice) on LLM spans.
	FinishReasonsKey = genai.GenAIResponseFinishReasonsKey
	// InputTokensKey is gen_ai.usage.input_tokens on LLM spans.
	InputTokensKey = genai.GenAIUsageInputTokensKey
	// OutputTokensKey is gen_ai.usage.output_tokens on LLM spans.
	OutputTokensKey = genai.GenAIUsageOutputTokensKey
	// CacheReadInputTokensKey is gen_ai.usage.cache_read.input_tokens: input
	// tokens served from a provider-managed cache. The convention counts
	// them in InputTokensKey too.
	CacheReadInputTokensKey = genai.GenAIUsageCacheReadInputTokensKey
	// CacheCreationInputTokensKey is gen_ai.usage.cache_creation.input_tokens:
	// input tokens written to a provider-managed cache. The convention
	// counts them in InputTokensKey too.
	CacheCreationInputTokensKey = genai.GenAIUsageCacheCreationInputTokensKey
	// ReasoningOutputTokensKey is gen_ai.usage.reasoning.output_tokens:
	// output tokens spent on reasoning. The convention counts them in
	// OutputTokensKey too.
	ReasoningOutputTokensKey = genai.GenAIUsageReasoningOutputTokensKey
	// InputMessagesKey holds prompt content (opt-in, truncated).
	InputMessagesKey = genai.GenAIInputMessagesKey
	// OutputMessagesKey holds completion content (opt-in, truncated).
	OutputMessagesKey = genai.GenAIOutputMessagesKey
	// ToolNameKey is gen_ai.tool.name on tool spans.
	ToolNameKey = genai.GenAIToolNameKey
	// ToolCallIDKey is gen_ai.tool.call.id on tool spans.
	ToolCallIDKey = genai.GenAIToolCallIDKey
	// ToolCallArgumentsKey holds tool arguments (opt-in content, truncated).
	ToolCallArgumentsKey = genai.GenAIToolCallArgumentsKey
	// ToolCallResultKey holds the tool result (opt-in content, truncated).
	ToolCallResultKey = genai.GenAIToolCallResultKey
)

// GenAI operation names (values of OperationNameKey) used by the library,
// and the other LLM operations the exporter counts as LLM calls.
var (
	OperationInvokeWorkflow  = genai.GenAIOperationNameInvokeWorkflow.Value.AsString()
	OperationInvokeAgent     = genai.GenAIOperationNameInvokeAgent.Value.AsString()
	OperationChat            = genai.GenAIOperationNameChat.Value.AsString()
	OperationEmbeddings      = genai.GenAIOperationNameEmbeddings.Value.AsString()
	OperationTextCompletion  = genai.GenAIOperationNameTextCompletion.Value.AsString()
	OperationGenerateContent = genai.GenAIOperationNameGenerateContent.Value.AsString()
	OperationExecuteTool     = genai.GenAIOperationNameExecuteTool.Value.AsString()
)

// crewtrace's own keys, for what no OpenTelemetry convention covers.
const (
	// SpanKindKey marks what a span is in the session model; its values are
	// the SpanKind* constants. The exporter recognises the session root by
	// SpanKindSession.
	SpanKindKey = attribute.Key("crewtrace.span.kind")
	// SessionNameKey is the session's human name (also in WorkflowNameKey).
	SessionNameKey = attribute.Key("crewtrace.session.name")
	// SessionTagsKey is the session's tags, a string slice.
	SessionTagsKey = attribute.Key("crewtrace.session.tags")
	// SessionEndStateKey is the end state, one of the EndState* values, set at End.
	SessionEndStateKey = attribute.Key("crewtrace.session.end_state")
	// SessionEndReasonKey is the free-text reason given at End.
	SessionEndReasonKey = attribute.Key("crewtrace.session.end_reason")
	// SessionEventsRefusedKey (int) is how many events the library refused
	// for the session before it ended (ErrInvalidEvent and the like), set
	// on the session span at End. Refusals after End cannot reach the ended
	// span: they are counted only on MetricEventsRejected.
	SessionEventsRefusedKey = attribute.Key("crewtrace.session.events_refused")

	// CacheCreation1hInputTokensKey (int) is the part of
	// CacheCreationInputTokensKey written to the provider's cache with a
	// one-hour lifetime, which Anthropic prices apart from five-minute
	// writes (its usage object's cache_creation.ephemeral_1h_input_tokens).
	// No OpenTelemetry convention has a key for it.
	CacheCreation1hInputTokensKey = attribute.Key("crewtrace.usage.cache_creation_1h.input_tokens")
	// UsageCostKey (double) is the cost of an LLM call in US dollars as the
	// provider or the instrumentation reported it (OpenRouter's usage.cost,
	// a gateway's bill). The session exporter takes it instead of pricing
	// the call from its price table, and marks the call as reported.
	UsageCostKey = attribute.Key("crewtrace.usage.cost")

	// LLMStreamAbandonedKey is true on the span of a streamed LLM response
	// that the application closed (or cancelled) before the stream's end: the
	// span holds what was read until then, usually without token counts or
	// finish reasons. Set by the LLM SDK instrumentation.
	LLMStreamAbandonedKey = attribute.Key("crewtrace.llm.stream.abandoned")

	// EventKindKey marks a span event as a crewtrace event; its values are
	// the EventKind* constants. Span events without it are not session events.
	EventKindKey = attribute.Key("crewtrace.event.kind")
	// EventTypeKey is the event type given by the caller (AgentOps' event_type).
	EventTypeKey = attribute.Key("crewtrace.event.type")
	// EventReturnsKey is the event's optional returns, as a string.
	EventReturnsKey = attribute.Key("crewtrace.event.returns")
	// EventParamPrefix prefixes each event parameter key: crewtrace.event.param.<name>.
	EventParamPrefix = "crewtrace.event.param."
)

// Values of SpanKindKey.
const (
	SpanKindSession = "session"
	SpanKindAgent   = "agent"
	SpanKindLLM     = "llm"
	SpanKindTool    = "tool"
)

// Values of EventKindKey.
const (
	EventKindEvent  = "event"
	EventKindAction = "action"
	EventKindError  = "error"
)

// Values of SessionEndStateKey, as AgentOps names them.
const (
	EndStateSuccess       = "Success"
	EndStateFail          = "Fail"
	EndStateIndeterminate = "Indeterminate"
)

// Values of ErrorTypeKey (and ExceptionTypeKey) the library sets itself.
const (
	// ErrorTypePanic marks a panic that EndOnExit caught: the exception.type
	// of its error event and the error.type of the span it ended.
	ErrorTypePanic = "panic"
	// ErrorTypeStillRunning is the error.type of an agent, LLM call or tool
	// call span that was still open when its session ended, and that the
	// library ended with status Error.
	ErrorTypeStillRunning = "still_running"
)

// ExceptionEventName is the span event name OpenTelemetry uses for recorded
// errors; error events are recorded under it, with EventKindKey set.
const ExceptionEventName = "exception"

// Span name prefixes. A span's name is the prefix, a space, and its subject.
const (
	SessionSpanPrefix = "session"
	AgentSpanPrefix   = "invoke_agent"
	ChatSpanPrefix    = "chat"
	ToolSpanPrefix    = "execute_tool"
)

// SessionSpanName is the name of a session's root span: "session <name>".
func SessionSpanName(name string) string { return spanName(SessionSpanPrefix, name) }

// AgentSpanName is the name of an agent span: "invoke_agent <name>".
func AgentSpanName(name string) string { return spanName(AgentSpanPrefix, name) }

// LLMSpanName is the name of an LLM span for any GenAI operation:
// "<operation> <model>" (ChatSpanName is the chat case).
func LLMSpanName(operation, model string) string { return spanName(operation, model) }

// ChatSpanName is the name of an LLM chat span: "chat <model>".
func ChatSpanName(model string) string { return spanName(ChatSpanPrefix, model) }

// ToolSpanName is the name of a tool span: "execute_tool <tool>".
func ToolSpanName(tool string) string { return spanName(ToolSpanPrefix, tool) }

// ErrorType is the error.type value for err, as the OpenTelemetry semantic
// conventions define it: the result of an ErrorType() string method of err
// (or of an error it wraps), else the Go type of err (fmt wrapping removed),
// e.g. "*errors.errorString" or "net/http.ProtocolError"; "_OTHER" for nil.
func ErrorType(err error) string { return otelsemconv.ErrorType(err).Value.AsString() }

// spanName follows the GenAI convention: the operation alone when the subject is unknown.
func spanName(prefix, subject string) string {
	if subject == "" {
		return prefix
	}
	return prefix + " " + subject
}

// Metric instrument names the library reports through its MeterProvider.
const (
	// MetricSessionsStarted counts started sessions, by SessionNameKey.
	MetricSessionsStarted = "crewtrace.sessions.started"
	// MetricSessionsActive is an UpDownCounter of sessions started and not yet ended, by SessionNameKey.
	MetricSessionsActive = "crewtrace.sessions.active"
	// MetricSessionsEnded counts ended sessions, by SessionNameKey and SessionEndStateKey.
	MetricSessionsEnded = "crewtrace.sessions.ended"
	// MetricSessionDuration is a histogram of session durations in seconds, by SessionNameKey and SessionEndStateKey.
	MetricSessionDuration = "crewtrace.session.duration"
	// MetricAgentsCreated counts agents started.
	MetricAgentsCreated = "crewtrace.agents.created"
	// MetricEventsRecorded counts events recorded, by EventKindKey.
	MetricEventsRecorded = "crewtrace.events.recorded"
	// MetricEventsRejected counts events refused, by ErrorTypeKey (the EventReject* values).
	MetricEventsRejected = "crewtrace.events.rejected"
)

// Values of ErrorTypeKey on MetricEventsRejected: why an event was refused.
const (
	EventRejectNoSession    = "no_session"
	EventRejectSessionEnded = "session_ended"
	EventRejectInvalidType  = "invalid_type"
	EventRejectInvalidKind  = "invalid_kind"
	EventRejectInvalidParam = "invalid_param"
)
