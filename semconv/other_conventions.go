package semconv

import (
	"go.opentelemetry.io/otel/attribute"
	// gen_ai.system and the prompt/completion token keys were renamed after
	// v1.26.0; older GenAI instrumentations still write them.
	genai126 "go.opentelemetry.io/otel/semconv/v1.26.0"
)

// This file holds the keys and values of the other instrumentation
// conventions the session exporter reads, so that a trace written by any of
// them becomes a session record. The library never writes them. Each block
// names the specification or source its keys were taken from; the exporter's
// normaliser (exporter/sessionexporter/internal/dialect) says what it reads
// from each and in which order.

// OTel GenAI keys beyond the ones the library writes: deprecated names that
// older instrumentations still send, and renames from the GenAI conventions
// repository (github.com/open-telemetry/semantic-conventions-genai,
// model/gen-ai/registry.yaml), which continues the GenAI part of the
// semantic conventions after v1.41.0.
const (
	// GenAISystemKey is gen_ai.system, the provider before
	// gen_ai.provider.name replaced it (semconv v1.26.0 to v1.36.0).
	GenAISystemKey = genai126.GenAiSystemKey
	// GenAIPromptTokensKey is gen_ai.usage.prompt_tokens, the input tokens
	// before gen_ai.usage.input_tokens (semconv v1.26.0).
	GenAIPromptTokensKey = genai126.GenAiUsagePromptTokensKey
	// GenAICompletionTokensKey is gen_ai.usage.completion_tokens, the output
	// tokens before gen_ai.usage.output_tokens (semconv v1.26.0).
	GenAICompletionTokensKey = genai126.GenAiUsageCompletionTokensKey
	// GenAICacheWriteInputTokensKey is gen_ai.usage.cache_write.input_tokens,
	// the GenAI conventions repository's name for
	// gen_ai.usage.cache_creation.input_tokens.
	GenAICacheWriteInputTokensKey = attribute.Key("gen_ai.usage.cache_write.input_tokens")
	// GenAIUsageCostKey is gen_ai.usage.cost, a call's cost in USD: no
	// GenAI convention defines it, but instrumentations that report a
	// provider's or gateway's cost write it under this name (LiteLLM's
	// OpenTelemetry integration, agent frameworks' Langfuse bridges).
	GenAIUsageCostKey = attribute.Key("gen_ai.usage.cost")
)

// OpenInference semantic conventions (Arize; spec/semantic_conventions.md of
// github.com/Arize-ai/openinference, as published in
// @arizeai/openinference-semantic-conventions 2.12.0). OpenInference groups
// sessions by SessionIDKey (session.id), the key crewtrace writes too.
const (
	// OpenInferenceSpanKindKey is openinference.span.kind; its values are
	// the OpenInferenceKind* constants.
	OpenInferenceSpanKindKey = attribute.Key("openinference.span.kind")
	// OpenInferenceAgentNameKey is agent.name on AGENT spans.
	OpenInferenceAgentNameKey = attribute.Key("agent.name")
	// OpenInferenceModelNameKey is llm.model_name on LLM spans.
	OpenInferenceModelNameKey = attribute.Key("llm.model_name")
	// OpenInferenceRequestModelKey is llm.request.model_name.
	OpenInferenceRequestModelKey = attribute.Key("llm.request.model_name")
	// OpenInferenceResponseModelKey is llm.response.model_name.
	OpenInferenceResponseModelKey = attribute.Key("llm.response.model_name")
	// OpenInferenceProviderKey is llm.provider (the hosting provider).
	OpenInferenceProviderKey = attribute.Key("llm.provider")
	// OpenInferenceSystemKey is llm.system (the model family's vendor).
	OpenInferenceSystemKey = attribute.Key("llm.system")
	// OpenInferencePromptTokensKey is llm.token_count.prompt (cache reads
	// and writes included: they are its details).
	OpenInferencePromptTokensKey = attribute.Key("llm.token_count.prompt")
	// OpenInferenceCompletionTokensKey is llm.token_count.completion
	// (reasoning included).
	OpenInferenceCompletionTokensKey = attribute.Key("llm.token_count.completion")
	// OpenInferenceCacheReadTokensKey is llm.token_count.prompt_details.cache_read.
	OpenInferenceCacheReadTokensKey = attribute.Key("llm.token_count.prompt_details.cache_read")
	// OpenInferenceCacheWriteTokensKey is llm.token_count.prompt_details.cache_write.
	OpenInferenceCacheWriteTokensKey = attribute.Key("llm.token_count.prompt_details.cache_write")
	// OpenInferenceReasoningTokensKey is llm.token_count.completion_details.reasoning.
	OpenInferenceReasoningTokensKey = attribute.Key("llm.token_count.completion_details.reasoning")
	// OpenInferenceToolNameKey is tool.name on TOOL spans.
	OpenInferenceToolNameKey = attribute.Key("tool.name")
)

// Values of OpenInferenceSpanKindKey.
const (
	OpenInferenceKindLLM       = "LLM"
	OpenInferenceKindEmbedding = "EMBEDDING"
	OpenInferenceKindAgent     = "AGENT"
	OpenInferenceKindTool      = "TOOL"
	OpenInferenceKindChain     = "CHAIN"
)

// OpenLLMetry (Traceloop) keys, from @traceloop/ai-semantic-conventions
// 0.27.0 (SpanAttributes, TraceloopSpanKindValues) and the span decorators of
// @traceloop/node-server-sdk 0.27.0 (withWorkflow, withAgent, withTool ...,
// which name spans "<name>.<kind>"). Its LLM spans carry the GenAI keys;
// older releases wrote the llm.usage.* and *_input_tokens keys below.
const (
	// TraceloopSpanKindKey is traceloop.span.kind; its values are the
	// TraceloopKind* constants.
	TraceloopSpanKindKey = attribute.Key("traceloop.span.kind")
	// TraceloopWorkflowNameKey is traceloop.workflow.name: the workflow's
	// name on a workflow span (an agent span sets it to the agent's name,
	// and spans inside inherit it).
	TraceloopWorkflowNameKey = attribute.Key("traceloop.workflow.name")
	// TraceloopEntityNameKey is traceloop.entity.name: the name given to
	// the decorated workflow, task, agent or tool.
	TraceloopEntityNameKey = attribute.Key("traceloop.entity.name")
	// TraceloopAssociationPrefix prefixes the association properties the
	// application sets (traceloop.association.properties.<name>); a session
	// ID travels as one of the SessionIDPropertyNames.
	TraceloopAssociationPrefix = "traceloop.association.properties."
	// TraceloopRequestTypeKey is llm.request.type (chat, completion ...) on
	// LLM spans.
	TraceloopRequestTypeKey = attribute.Key("llm.request.type")
	// TraceloopPromptTokensKey is llm.usage.prompt_tokens (older releases).
	TraceloopPromptTokensKey = attribute.Key("llm.usage.prompt_tokens")
	// TraceloopCompletionTokensKey is llm.usage.completion_tokens (older releases).
	TraceloopCompletionTokensKey = attribute.Key("llm.usage.completion_tokens")
	// TraceloopCacheReadTokensKey is gen_ai.usage.cache_read_input_tokens.
	TraceloopCacheReadTokensKey = attribute.Key("gen_ai.usage.cache_read_input_tokens")
	// TraceloopCacheCreationTokensKey is gen_ai.usage.cache_creation_input_tokens.
	TraceloopCacheCreationTokensKey = attribute.Key("gen_ai.usage.cache_creation_input_tokens")
	// TraceloopReasoningTokensKey is gen_ai.usage.reasoning_tokens.
	TraceloopReasoningTokensKey = attribute.Key("gen_ai.usage.reasoning_tokens")
)

// Values of TraceloopSpanKindKey and TraceloopRequestTypeKey.
const (
	TraceloopKindWorkflow = "workflow"
	TraceloopKindSession  = "session"
	TraceloopKindAgent    = "agent"
	TraceloopKindTool     = "tool"
	TraceloopKindTask     = "task"

	TraceloopRequestChat       = "chat"
	TraceloopRequestCompletion = "completion"
)

// Langfuse keys, from LangfuseOtelSpanAttributes in @langfuse/core 5.11.1
// and Langfuse's OpenTelemetry property mapping
// (langfuse.com/integrations/native/opentelemetry#property-mapping). Its
// SDK writes the session ID as SessionIDKey (session.id), older releases as
// LangfuseSessionIDKey.
const (
	// LangfuseObservationTypeKey is langfuse.observation.type; its values
	// are the LangfuseType* constants.
	LangfuseObservationTypeKey = attribute.Key("langfuse.observation.type")
	// LangfuseSessionIDKey is langfuse.session.id.
	LangfuseSessionIDKey = attribute.Key("langfuse.session.id")
	// LangfuseTraceNameKey is langfuse.trace.name, the trace's name.
	LangfuseTraceNameKey = attribute.Key("langfuse.trace.name")
	// LangfuseModelKey is langfuse.observation.model.name on generations.
	LangfuseModelKey = attribute.Key("langfuse.observation.model.name")
	// LangfuseUsageDetailsKey is langfuse.observation.usage_details: a JSON
	// object of token counts whose keys are free-form ("input", "output",
	// "total", "input_cached_tokens", "output_reasoning_tokens" ...); the
	// input_* and output_* details are not part of "input" and "output".
	LangfuseUsageDetailsKey = attribute.Key("langfuse.observation.usage_details")
	// LangfuseCostDetailsKey is langfuse.observation.cost_details: a JSON
	// object of costs in USD (OBSERVATION_COST_DETAILS in the Langfuse SDK's
	// LangfuseOtelSpanAttributes), {"total": ...} or its parts ("input",
	// "output" ...).
	LangfuseCostDetailsKey = attribute.Key("langfuse.observation.cost_details")
	// LangfuseLevelKey is langfuse.observation.level (DEBUG, DEFAULT,
	// WARNING, ERROR).
	LangfuseLevelKey = attribute.Key("langfuse.observation.level")
	// LangfuseStatusMessageKey is langfuse.observation.status_message.
	LangfuseStatusMessageKey = attribute.Key("langfuse.observation.status_message")
)

// Values of LangfuseObservationTypeKey and LangfuseLevelKey.
const (
	LangfuseTypeGeneration = "generation"
	LangfuseTypeEmbedding  = "embedding"
	LangfuseTypeAgent      = "agent"
	LangfuseTypeTool       = "tool"
	LangfuseLevelError     = "ERROR"
)

// Vercel AI SDK keys, from its telemetry documentation
// (ai-sdk.dev/docs/ai-sdk-core/telemetry) and the spans of the ai package
// 6.0.333. Each call is an outer span (ai.generateText ...) carrying the
// totals of its steps and one inner span per provider call
// (ai.generateText.doGenerate ...) carrying that call's usage; tools run in
// ai.toolCall spans.
const (
	// VercelOperationIDKey is ai.operationId; its values are the
	// VercelOperation* constants.
	VercelOperationIDKey = attribute.Key("ai.operationId")
	// VercelFunctionIDKey is ai.telemetry.functionId, the name the
	// application gives the call in experimental_telemetry.
	VercelFunctionIDKey = attribute.Key("ai.telemetry.functionId")
	// VercelMetadataPrefix prefixes experimental_telemetry.metadata entries
	// (ai.telemetry.metadata.<name>); a session ID travels as one of the
	// SessionIDPropertyNames.
	VercelMetadataPrefix = "ai.telemetry.metadata."
	// VercelModelIDKey is ai.model.id, the requested model.
	VercelModelIDKey = attribute.Key("ai.model.id")
	// VercelModelProviderKey is ai.model.provider (e.g. "openai.chat").
	VercelModelProviderKey = attribute.Key("ai.model.provider")
	// VercelResponseModelKey is ai.response.model.
	VercelResponseModelKey = attribute.Key("ai.response.model")
	// VercelInputTokensKey is ai.usage.inputTokens (cache reads included).
	VercelInputTokensKey = attribute.Key("ai.usage.inputTokens")
	// VercelOutputTokensKey is ai.usage.outputTokens (reasoning included).
	VercelOutputTokensKey = attribute.Key("ai.usage.outputTokens")
	// VercelPromptTokensKey is ai.usage.promptTokens (SDK 4 and earlier).
	VercelPromptTokensKey = attribute.Key("ai.usage.promptTokens")
	// VercelCompletionTokensKey is ai.usage.completionTokens (SDK 4 and earlier).
	VercelCompletionTokensKey = attribute.Key("ai.usage.completionTokens")
	// VercelCacheReadTokensKey is ai.usage.inputTokenDetails.cacheReadTokens.
	VercelCacheReadTokensKey = attribute.Key("ai.usage.inputTokenDetails.cacheReadTokens")
	// VercelCachedInputTokensKey is ai.usage.cachedInputTokens (SDK 5).
	VercelCachedInputTokensKey = attribute.Key("ai.usage.cachedInputTokens")
	// VercelCacheWriteTokensKey is ai.usage.inputTokenDetails.cacheWriteTokens.
	VercelCacheWriteTokensKey = attribute.Key("ai.usage.inputTokenDetails.cacheWriteTokens")
	// VercelReasoningTokensKey is ai.usage.outputTokenDetails.reasoningTokens.
	VercelReasoningTokensKey = attribute.Key("ai.usage.outputTokenDetails.reasoningTokens")
	// VercelReasoningTokensV5Key is ai.usage.reasoningTokens (SDK 5).
	VercelReasoningTokensV5Key = attribute.Key("ai.usage.reasoningTokens")
	// VercelToolNameKey is ai.toolCall.name on ai.toolCall spans.
	VercelToolNameKey = attribute.Key("ai.toolCall.name")
)

// Values of VercelOperationIDKey: the provider calls (LLM calls in the
// session model) and the tool call. The outer operations (ai.generateText,
// ai.streamText ...) are neither.
const (
	VercelOperationGenerateText   = "ai.generateText.doGenerate"
	VercelOperationStreamText     = "ai.streamText.doStream"
	VercelOperationGenerateObject = "ai.generateObject.doGenerate"
	VercelOperationStreamObject   = "ai.streamObject.doStream"
	VercelOperationEmbed          = "ai.embed.doEmbed"
	VercelOperationEmbedMany      = "ai.embedMany.doEmbed"
	VercelOperationToolCall       = "ai.toolCall"
)

// SessionIDPropertyNames are the names under which applications pass a
// session ID as an OpenLLMetry association property or as Vercel AI SDK
// telemetry metadata: Langfuse's documentation uses sessionId, Traceloop's
// session_id, and Traceloop's AI SDK bridge reads conversationId and
// sessionId.
var SessionIDPropertyNames = []string{"session_id", "sessionId", "session.id", "conversation_id", "conversationId"}
