package semconv

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The wire strings are the contract with other OTLP clients and stored
// records: changing one is a breaking change and must fail here.
func TestWireKeys(t *testing.T) {
	keys := map[string]string{
		string(SessionIDKey):                  "session.id",
		string(ConversationIDKey):             "gen_ai.conversation.id",
		string(ErrorTypeKey):                  "error.type",
		string(ExceptionTypeKey):              "exception.type",
		string(ExceptionMessageKey):           "exception.message",
		string(ExceptionStacktraceKey):        "exception.stacktrace",
		string(CacheReadInputTokensKey):       "gen_ai.usage.cache_read.input_tokens",
		string(CacheCreationInputTokensKey):   "gen_ai.usage.cache_creation.input_tokens",
		string(ReasoningOutputTokensKey):      "gen_ai.usage.reasoning.output_tokens",
		string(SessionEventsRefusedKey):       "crewtrace.session.events_refused",
		string(OperationNameKey):              "gen_ai.operation.name",
		string(AgentNameKey):                  "gen_ai.agent.name",
		string(AgentIDKey):                    "gen_ai.agent.id",
		string(RequestModelKey):               "gen_ai.request.model",
		string(InputTokensKey):                "gen_ai.usage.input_tokens",
		string(OutputTokensKey):               "gen_ai.usage.output_tokens",
		string(FinishReasonsKey):              "gen_ai.response.finish_reasons",
		string(ToolNameKey):                   "gen_ai.tool.name",
		string(SpanKindKey):                   "crewtrace.span.kind",
		string(SessionNameKey):                "crewtrace.session.name",
		string(SessionEndStateKey):            "crewtrace.session.end_state",
		string(EventKindKey):                  "crewtrace.event.kind",
		string(EventTypeKey):                  "crewtrace.event.type",
		string(LLMStreamAbandonedKey):         "crewtrace.llm.stream.abandoned",
		string(CacheCreation1hInputTokensKey): "crewtrace.usage.cache_creation_1h.input_tokens",
		string(UsageCostKey):                  "crewtrace.usage.cost",
		string(GenAIUsageCostKey):             "gen_ai.usage.cost",
		string(LangfuseCostDetailsKey):        "langfuse.observation.cost_details",
		OperationInvokeAgent:                  "invoke_agent",
		OperationChat:                         "chat",
		OperationExecuteTool:                  "execute_tool",
		OperationInvokeWorkflow:               "invoke_workflow",
	}
	for got, want := range keys {
		assert.Equal(t, want, got)
	}
}

func TestSpanNames(t *testing.T) {
	assert.Equal(t, "session triage", SessionSpanName("triage"))
	assert.Equal(t, "invoke_agent researcher", AgentSpanName("researcher"))
	assert.Equal(t, "chat gpt-4o", ChatSpanName("gpt-4o"))
	assert.Equal(t, "execute_tool search", ToolSpanName("search"))
	assert.Equal(t, "chat", ChatSpanName(""), "an unknown subject leaves the operation alone")
	assert.Equal(t, "embeddings text-embedding-3-small", LLMSpanName(OperationEmbeddings, "text-embedding-3-small"))
}

type typedError struct{}

func (typedError) Error() string     { return "typed" }
func (typedError) ErrorType() string { return "rate_limit" }

func TestErrorType(t *testing.T) {
	assert.Equal(t, "*errors.errorString", ErrorType(errors.New("x")))
	assert.Equal(t, "*errors.errorString", ErrorType(fmt.Errorf("wrapped: %w", errors.New("x"))), "fmt wrapping is looked through")
	assert.Equal(t, "rate_limit", ErrorType(typedError{}), "an ErrorType method wins")
	assert.Equal(t, "rate_limit", ErrorType(fmt.Errorf("call: %w", typedError{})))
	assert.Equal(t, "_OTHER", ErrorType(nil))
}
