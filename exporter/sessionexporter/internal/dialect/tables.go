package dialect

import (
	"go.opentelemetry.io/otel/attribute"

	"github.com/crewtrace/crewtrace/semconv"
)

// field is a field of the session model that attribute keys fill.
type field uint8

const (
	fNone field = iota
	// kind keys, one per convention
	fCrewtraceKind
	fOpenInferenceKind
	fTraceloopKind
	fLangfuseType
	fVercelOperation
	fGenAIOperation
	fTraceloopRequestType
	// session
	fSessionID
	fSessionName // a session or workflow name the span states
	fTraceName   // a trace-level name (Langfuse, AI SDK functionId)
	fEndState
	fEndReason
	fTags
	// agent, tool
	fAgentName
	fAgentID
	fToolName
	fTraceloopWorkflowName
	fTraceloopEntityName
	// model and usage
	fProvider
	fRequestModel
	fResponseModel
	fInput
	fOutput
	fCacheRead
	fCacheWrite
	fReasoning
	fCacheWrite1h
	fLangfuseUsage
	fCost         // a call's cost in USD, a number
	fLangfuseCost // Langfuse's cost details, a JSON object
	// errors
	fErrorType
	fLangfuseLevel
	fLangfuseStatusMessage
	numFields
)

// entry maps one attribute key to the field it fills.
type entry struct {
	key   attribute.Key
	field field
}

// table is one convention's keys. Within a table, keys filling the same
// field are listed in the order they are preferred.
type table struct {
	source  Source
	entries []entry
}

// crewtraceTable: crewtrace's own contract (semconv/semconv.go), written by
// otelsession and the LLM adapters. session.id is also what OpenInference and
// Langfuse write.
var crewtraceTable = table{SourceCrewtrace, []entry{
	{semconv.SpanKindKey, fCrewtraceKind},
	{semconv.SessionIDKey, fSessionID},
	{semconv.SessionNameKey, fSessionName},
	{semconv.SessionEndStateKey, fEndState},
	{semconv.SessionEndReasonKey, fEndReason},
	{semconv.SessionTagsKey, fTags},
	{semconv.CacheCreation1hInputTokensKey, fCacheWrite1h},
	{semconv.UsageCostKey, fCost},
}}

// genAITable: OTel GenAI semantic conventions v1.36.0 to v1.41.0 (the Go
// package go.opentelemetry.io/otel/semconv/v1.41.0), the GenAI conventions
// repository that continues them (open-telemetry/semantic-conventions-genai,
// model/gen-ai/registry.yaml: cache_write renames cache_creation), and the
// keys they deprecated (v1.26.0: gen_ai.system, prompt_tokens,
// completion_tokens), preferred last.
var genAITable = table{SourceGenAI, []entry{
	{semconv.OperationNameKey, fGenAIOperation},
	{semconv.ConversationIDKey, fSessionID},
	{semconv.WorkflowNameKey, fSessionName},
	{semconv.AgentNameKey, fAgentName},
	{semconv.AgentIDKey, fAgentID},
	{semconv.ToolNameKey, fToolName},
	{semconv.ProviderNameKey, fProvider},
	{semconv.RequestModelKey, fRequestModel},
	{semconv.ResponseModelKey, fResponseModel},
	{semconv.InputTokensKey, fInput},
	{semconv.OutputTokensKey, fOutput},
	{semconv.CacheReadInputTokensKey, fCacheRead},
	{semconv.CacheCreationInputTokensKey, fCacheWrite},
	{semconv.GenAICacheWriteInputTokensKey, fCacheWrite},
	{semconv.ReasoningOutputTokensKey, fReasoning},
	{semconv.ErrorTypeKey, fErrorType},
	{semconv.GenAISystemKey, fProvider},
	{semconv.GenAIPromptTokensKey, fInput},
	{semconv.GenAICompletionTokensKey, fOutput},
	{semconv.GenAIUsageCostKey, fCost},
}}

// openInferenceTable: OpenInference semantic conventions
// (github.com/Arize-ai/openinference spec/semantic_conventions.md;
// @arizeai/openinference-semantic-conventions 2.12.0). Sessions by
// session.id, read through crewtraceTable.
var openInferenceTable = table{SourceOpenInference, []entry{
	{semconv.OpenInferenceSpanKindKey, fOpenInferenceKind},
	{semconv.OpenInferenceAgentNameKey, fAgentName},
	{semconv.OpenInferenceToolNameKey, fToolName},
	{semconv.OpenInferenceProviderKey, fProvider},
	{semconv.OpenInferenceSystemKey, fProvider},
	{semconv.OpenInferenceRequestModelKey, fRequestModel},
	{semconv.OpenInferenceResponseModelKey, fResponseModel},
	{semconv.OpenInferenceModelNameKey, fResponseModel},
	{semconv.OpenInferencePromptTokensKey, fInput},
	{semconv.OpenInferenceCompletionTokensKey, fOutput},
	{semconv.OpenInferenceCacheReadTokensKey, fCacheRead},
	{semconv.OpenInferenceCacheWriteTokensKey, fCacheWrite},
	{semconv.OpenInferenceReasoningTokensKey, fReasoning},
}}

// openLLMetryTable: OpenLLMetry / Traceloop (@traceloop/ai-semantic-conventions
// 0.27.0, @traceloop/node-server-sdk 0.27.0). Its LLM spans are read through
// genAITable; a session ID in an association property is read by prefix
// (semconv.TraceloopAssociationPrefix).
var openLLMetryTable = table{SourceOpenLLMetry, []entry{
	{semconv.TraceloopSpanKindKey, fTraceloopKind},
	{semconv.TraceloopWorkflowNameKey, fTraceloopWorkflowName},
	{semconv.TraceloopEntityNameKey, fTraceloopEntityName},
	{semconv.TraceloopRequestTypeKey, fTraceloopRequestType},
	{semconv.TraceloopCacheReadTokensKey, fCacheRead},
	{semconv.TraceloopCacheCreationTokensKey, fCacheWrite},
	{semconv.TraceloopReasoningTokensKey, fReasoning},
	{semconv.TraceloopPromptTokensKey, fInput},
	{semconv.TraceloopCompletionTokensKey, fOutput},
}}

// langfuseTable: Langfuse's OTel SDK (LangfuseOtelSpanAttributes,
// @langfuse/core 5.11.1) and its OpenTelemetry property mapping
// (langfuse.com/integrations/native/opentelemetry#property-mapping).
var langfuseTable = table{SourceLangfuse, []entry{
	{semconv.LangfuseObservationTypeKey, fLangfuseType},
	{semconv.LangfuseSessionIDKey, fSessionID},
	{semconv.LangfuseTraceNameKey, fTraceName},
	{semconv.LangfuseModelKey, fResponseModel},
	{semconv.LangfuseUsageDetailsKey, fLangfuseUsage},
	{semconv.LangfuseCostDetailsKey, fLangfuseCost},
	{semconv.LangfuseLevelKey, fLangfuseLevel},
	{semconv.LangfuseStatusMessageKey, fLangfuseStatusMessage},
}}

// vercelTable: Vercel AI SDK telemetry (ai-sdk.dev/docs/ai-sdk-core/telemetry;
// the ai package 6.0.333). A session ID in telemetry metadata is read by
// prefix (semconv.VercelMetadataPrefix). The outer spans' ai.usage.* are
// their steps' totals; only provider-call spans are LLM calls, so only
// theirs are counted.
var vercelTable = table{SourceVercelAI, []entry{
	{semconv.VercelOperationIDKey, fVercelOperation},
	{semconv.VercelFunctionIDKey, fTraceName},
	{semconv.VercelToolNameKey, fToolName},
	{semconv.VercelModelProviderKey, fProvider},
	{semconv.VercelModelIDKey, fRequestModel},
	{semconv.VercelResponseModelKey, fResponseModel},
	{semconv.VercelInputTokensKey, fInput},
	{semconv.VercelOutputTokensKey, fOutput},
	{semconv.VercelCacheReadTokensKey, fCacheRead},
	{semconv.VercelCachedInputTokensKey, fCacheRead},
	{semconv.VercelCacheWriteTokensKey, fCacheWrite},
	{semconv.VercelReasoningTokensKey, fReasoning},
	{semconv.VercelReasoningTokensV5Key, fReasoning},
	{semconv.VercelPromptTokensKey, fInput},
	{semconv.VercelCompletionTokensKey, fOutput},
}}

// tables in the order their keys are preferred.
var tables = []table{crewtraceTable, genAITable, openInferenceTable, openLLMetryTable, langfuseTable, vercelTable}

// kindKey is one convention's kind key and what its values mean; a value
// not listed is KindOther.
type kindKey struct {
	field  field
	source Source
	values map[string]Kind
}

// kindKeys in the order they decide a span's kind.
var kindKeys = []kindKey{
	{fCrewtraceKind, SourceCrewtrace, map[string]Kind{
		semconv.SpanKindSession: KindRoot,
		semconv.SpanKindAgent:   KindAgent,
		semconv.SpanKindLLM:     KindLLM,
		semconv.SpanKindTool:    KindTool,
	}},
	{fOpenInferenceKind, SourceOpenInference, map[string]Kind{
		semconv.OpenInferenceKindAgent:     KindAgent,
		semconv.OpenInferenceKindLLM:       KindLLM,
		semconv.OpenInferenceKindEmbedding: KindLLM,
		semconv.OpenInferenceKindTool:      KindTool,
	}},
	{fTraceloopKind, SourceOpenLLMetry, map[string]Kind{
		semconv.TraceloopKindWorkflow: KindRoot,
		semconv.TraceloopKindSession:  KindRoot,
		semconv.TraceloopKindAgent:    KindAgent,
		semconv.TraceloopKindTool:     KindTool,
	}},
	{fLangfuseType, SourceLangfuse, map[string]Kind{
		semconv.LangfuseTypeAgent:      KindAgent,
		semconv.LangfuseTypeGeneration: KindLLM,
		semconv.LangfuseTypeEmbedding:  KindLLM,
		semconv.LangfuseTypeTool:       KindTool,
	}},
	{fVercelOperation, SourceVercelAI, map[string]Kind{
		semconv.VercelOperationGenerateText:   KindLLM,
		semconv.VercelOperationStreamText:     KindLLM,
		semconv.VercelOperationGenerateObject: KindLLM,
		semconv.VercelOperationStreamObject:   KindLLM,
		semconv.VercelOperationEmbed:          KindLLM,
		semconv.VercelOperationEmbedMany:      KindLLM,
		semconv.VercelOperationToolCall:       KindTool,
	}},
	{fGenAIOperation, SourceGenAI, map[string]Kind{
		semconv.OperationInvokeWorkflow:  KindRoot,
		semconv.OperationInvokeAgent:     KindAgent,
		semconv.OperationChat:            KindLLM,
		semconv.OperationTextCompletion:  KindLLM,
		semconv.OperationGenerateContent: KindLLM,
		semconv.OperationEmbeddings:      KindLLM,
		semconv.OperationExecuteTool:     KindTool,
	}},
	{fTraceloopRequestType, SourceOpenLLMetry, map[string]Kind{
		semconv.TraceloopRequestChat:       KindLLM,
		semconv.TraceloopRequestCompletion: KindLLM,
	}},
}

// slot is where a key goes: its field and its rank among all keys.
type slot struct {
	field field
	rank  uint16
}

// index maps every key of every table to its slot; a key listed by two
// tables (none is today) keeps its first.
var index = buildIndex()

// maxKeyLen bounds the length of the keys in the tables.
const maxKeyLen = 64

// keyed is one key of index with its slot.
type keyed struct {
	key string
	slot
}

// byLen holds index's keys by length: a lookup compares a key with the few
// of its length instead of hashing it, which halves the cost of reading a
// span (BenchmarkSummarise).
var byLen = func() (out [maxKeyLen + 1][]keyed) {
	for k, sl := range index {
		if len(k) > maxKeyLen {
			panic("dialect: key longer than maxKeyLen: " + k)
		}
		out[len(k)] = append(out[len(k)], keyed{k, sl})
	}
	return out
}()

// lookup returns the slot of key k.
func lookup(k string) (slot, bool) {
	if len(k) > maxKeyLen {
		return slot{}, false
	}
	for _, e := range byLen[len(k)] {
		if e.key == k {
			return e.slot, true
		}
	}
	return slot{}, false
}

func buildIndex() map[string]slot {
	idx := make(map[string]slot)
	rank := uint16(0)
	for _, t := range tables {
		for _, e := range t.entries {
			if _, dup := idx[string(e.key)]; !dup {
				idx[string(e.key)] = slot{field: e.field, rank: rank}
			}
			rank++
		}
	}
	return idx
}
