package dialect

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// span builds a span named name with attrs (string, int, float64, bool or
// []string values).
func span(name string, attrs map[string]any) ptrace.Span {
	s := ptrace.NewSpan()
	s.SetName(name)
	for k, v := range attrs {
		switch v := v.(type) {
		case string:
			s.Attributes().PutStr(k, v)
		case int:
			s.Attributes().PutInt(k, int64(v))
		case float64:
			s.Attributes().PutDouble(k, v)
		case bool:
			s.Attributes().PutBool(k, v)
		case []string:
			sl := s.Attributes().PutEmptySlice(k)
			for _, e := range v {
				sl.AppendEmpty().SetStr(e)
			}
		default:
			panic("unsupported attribute type")
		}
	}
	return s
}

func failed(s ptrace.Span, msg string) ptrace.Span {
	s.Status().SetCode(ptrace.StatusCodeError)
	s.Status().SetMessage(msg)
	return s
}

type readCase struct {
	name string
	span ptrace.Span
	want Span
}

func runCases(t *testing.T, cases []readCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Read(tt.span))
		})
	}
}

// crewtrace's own contract, as otelsession and the LLM adapters write it.
func TestReadCrewtrace(t *testing.T) {
	runCases(t, []readCase{
		{"session span", span("session triage", map[string]any{
			"crewtrace.span.kind": "session", "session.id": "s-1", "gen_ai.conversation.id": "s-1",
			"crewtrace.session.name": "triage", "gen_ai.workflow.name": "triage",
			"crewtrace.session.end_state": "Fail", "crewtrace.session.end_reason": "no mail",
			"crewtrace.session.tags": []string{"a", "b"},
		}), Span{Kind: KindRoot, Source: SourceCrewtrace, SessionID: "s-1", Name: "triage",
			EndState: "Fail", EndReason: "no mail", Tags: []string{"a", "b"}}},
		{"agent span", span("invoke_agent researcher", map[string]any{
			"crewtrace.span.kind": "agent", "gen_ai.operation.name": "invoke_agent",
			"gen_ai.agent.name": "researcher", "gen_ai.agent.id": "a-1", "session.id": "s-1",
		}), Span{Kind: KindAgent, Source: SourceCrewtrace, SessionID: "s-1", AgentName: "researcher", AgentID: "a-1"}},
		{"LLM span written by an adapter: GenAI keys only", span("chat gpt-4o", map[string]any{
			"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
			"gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
			"gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 20,
			"gen_ai.usage.cache_read.input_tokens": 30, "gen_ai.usage.cache_creation.input_tokens": 5,
			"gen_ai.usage.reasoning.output_tokens": 7,
		}), Span{Kind: KindLLM, Source: SourceGenAI, Provider: "openai", RequestModel: "gpt-4o", ResponseModel: "gpt-4o-2024-08-06",
			Tokens: Tokens{Input: 100, Output: 20, CacheRead: 30, CacheWrite: 5, Reasoning: 7}}},
		{"crewtrace kind wins over the GenAI operation", span("x", map[string]any{
			"crewtrace.span.kind": "tool", "gen_ai.operation.name": "chat", "gen_ai.tool.name": "search",
		}), Span{Kind: KindTool, Source: SourceCrewtrace, ToolName: "search"}},
		{"unknown crewtrace kind is other, and decides", span("x", map[string]any{
			"crewtrace.span.kind": "bogus", "gen_ai.operation.name": "chat",
		}), Span{Kind: KindOther, Source: SourceCrewtrace}},
	})
}

// OTel GenAI semantic conventions v1.36–v1.41, the GenAI conventions
// repository, and the keys they deprecated.
func TestReadGenAI(t *testing.T) {
	runCases(t, []readCase{
		{"invoke_workflow root", span("invoke_workflow support", map[string]any{
			"gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": "support", "gen_ai.conversation.id": "conv-1",
		}), Span{Kind: KindRoot, Source: SourceGenAI, SessionID: "conv-1", Name: "support"}},
		{"invoke_agent", span("invoke_agent planner", map[string]any{
			"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner", "gen_ai.agent.id": "asst_1",
		}), Span{Kind: KindAgent, Source: SourceGenAI, AgentName: "planner", AgentID: "asst_1"}},
		{"invoke_agent without a name: the span name stands in", span("invoke_agent planner", map[string]any{
			"gen_ai.operation.name": "invoke_agent",
		}), Span{Kind: KindAgent, Source: SourceGenAI, AgentName: "planner"}},
		{"execute_tool", span("execute_tool get_weather", map[string]any{
			"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather",
		}), Span{Kind: KindTool, Source: SourceGenAI, ToolName: "get_weather"}},
		{"execute_tool without a name", span("execute_tool get_weather", map[string]any{
			"gen_ai.operation.name": "execute_tool",
		}), Span{Kind: KindTool, Source: SourceGenAI, ToolName: "get_weather"}},
		{"every LLM operation", span("embeddings m", map[string]any{"gen_ai.operation.name": "embeddings"}),
			Span{Kind: KindLLM, Source: SourceGenAI}},
		{"generate_content", span("g", map[string]any{"gen_ai.operation.name": "generate_content"}),
			Span{Kind: KindLLM, Source: SourceGenAI}},
		{"text_completion", span("g", map[string]any{"gen_ai.operation.name": "text_completion"}),
			Span{Kind: KindLLM, Source: SourceGenAI}},
		{"other operations are other", span("plan", map[string]any{"gen_ai.operation.name": "create_agent"}),
			Span{Kind: KindOther, Source: SourceGenAI}},
		{"deprecated keys (v1.26.0): gen_ai.system, prompt_tokens, completion_tokens", span("chat m", map[string]any{
			"gen_ai.operation.name": "chat", "gen_ai.system": "anthropic",
			"gen_ai.usage.prompt_tokens": 11, "gen_ai.usage.completion_tokens": 4,
		}), Span{Kind: KindLLM, Source: SourceGenAI, Provider: "anthropic", Tokens: Tokens{Input: 11, Output: 4}}},
		{"current keys win over deprecated ones", span("chat m", map[string]any{
			"gen_ai.operation.name": "chat", "gen_ai.system": "old", "gen_ai.provider.name": "new",
			"gen_ai.usage.prompt_tokens": 1, "gen_ai.usage.input_tokens": 2,
		}), Span{Kind: KindLLM, Source: SourceGenAI, Provider: "new", Tokens: Tokens{Input: 2}}},
		{"cache_write, the GenAI repository's name for cache_creation", span("chat m", map[string]any{
			"gen_ai.operation.name": "chat", "gen_ai.usage.cache_write.input_tokens": 9,
		}), Span{Kind: KindLLM, Source: SourceGenAI, Tokens: Tokens{CacheWrite: 9}}},
		{"tokens as double or decimal string", span("chat m", map[string]any{
			"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 12.0, "gen_ai.usage.output_tokens": "8",
		}), Span{Kind: KindLLM, Source: SourceGenAI, Tokens: Tokens{Input: 12, Output: 8}}},
		{"error from status", failed(span("chat m", map[string]any{"gen_ai.operation.name": "chat", "error.type": "429"}), "rate limited"),
			Span{Kind: KindLLM, Source: SourceGenAI, Failed: true, Message: "rate limited"}},
		{"error without message: error.type", failed(span("chat m", map[string]any{"gen_ai.operation.name": "chat", "error.type": "429"}), ""),
			Span{Kind: KindLLM, Source: SourceGenAI, Failed: true, Message: "429"}},
	})
}

// OpenInference semantic conventions (@arizeai/openinference-semantic-conventions 2.12.0).
func TestReadOpenInference(t *testing.T) {
	runCases(t, []readCase{
		{"chain root with a session", span("support-crew", map[string]any{
			"openinference.span.kind": "CHAIN", "session.id": "sess-9",
		}), Span{Kind: KindOther, Source: SourceOpenInference, SessionID: "sess-9"}},
		{"agent named by agent.name", span("run", map[string]any{
			"openinference.span.kind": "AGENT", "agent.name": "researcher",
		}), Span{Kind: KindAgent, Source: SourceOpenInference, AgentName: "researcher"}},
		{"agent named by its span", span("researcher", map[string]any{"openinference.span.kind": "AGENT"}),
			Span{Kind: KindAgent, Source: SourceOpenInference, AgentName: "researcher"}},
		{"LLM span of the OpenAI instrumentation", span("OpenAI Chat Completions", map[string]any{
			"openinference.span.kind": "LLM", "llm.provider": "openai", "llm.system": "openai",
			"llm.model_name": "gpt-4o-mini-2024-07-18", "llm.token_count.prompt": 50,
			"llm.token_count.completion": 12, "llm.token_count.total": 62,
			"llm.token_count.prompt_details.cache_read": 20, "llm.token_count.prompt_details.cache_write": 3,
			"llm.token_count.completion_details.reasoning": 4, "session.id": "sess-9",
		}), Span{Kind: KindLLM, Source: SourceOpenInference, SessionID: "sess-9", Provider: "openai", ResponseModel: "gpt-4o-mini-2024-07-18",
			Tokens: Tokens{Input: 50, Output: 12, CacheRead: 20, CacheWrite: 3, Reasoning: 4}}},
		{"request and response model", span("llm", map[string]any{
			"openinference.span.kind": "LLM", "llm.request.model_name": "m", "llm.response.model_name": "m-1", "llm.model_name": "ignored",
		}), Span{Kind: KindLLM, Source: SourceOpenInference, RequestModel: "m", ResponseModel: "m-1"}},
		{"embedding is an LLM call", span("embed", map[string]any{"openinference.span.kind": "EMBEDDING"}),
			Span{Kind: KindLLM, Source: SourceOpenInference}},
		{"tool", span("lookup", map[string]any{"openinference.span.kind": "TOOL", "tool.name": "get_weather"}),
			Span{Kind: KindTool, Source: SourceOpenInference, ToolName: "get_weather"}},
		{"tool named by its span", span("get_weather", map[string]any{"openinference.span.kind": "TOOL"}),
			Span{Kind: KindTool, Source: SourceOpenInference, ToolName: "get_weather"}},
		{"retriever is other", span("r", map[string]any{"openinference.span.kind": "RETRIEVER"}),
			Span{Kind: KindOther, Source: SourceOpenInference}},
	})
}

// OpenLLMetry / Traceloop (@traceloop/ai-semantic-conventions and
// @traceloop/node-server-sdk 0.27.0).
func TestReadOpenLLMetry(t *testing.T) {
	runCases(t, []readCase{
		{"workflow with a session association property", span("support.workflow", map[string]any{
			"traceloop.span.kind": "workflow", "traceloop.workflow.name": "support", "traceloop.entity.name": "support",
			"traceloop.association.properties.session_id": "chat-7", "traceloop.association.properties.user_id": "u",
		}), Span{Kind: KindRoot, Source: SourceOpenLLMetry, SessionID: "chat-7", Name: "support"}},
		{"session ID under sessionId", span("w", map[string]any{
			"traceloop.span.kind": "task", "traceloop.association.properties.sessionId": "chat-8",
		}), Span{Kind: KindOther, Source: SourceOpenLLMetry, SessionID: "chat-8"}},
		{"withConversation: gen_ai.conversation.id", span("w", map[string]any{
			"traceloop.span.kind": "workflow", "gen_ai.conversation.id": "conv-3",
			"traceloop.association.properties.session_id": "ignored",
		}), Span{Kind: KindRoot, Source: SourceOpenLLMetry, SessionID: "conv-3"}},
		{"agent: entity name, GenAI agent name", span("planner.agent", map[string]any{
			"traceloop.span.kind": "agent", "traceloop.entity.name": "planner", "gen_ai.agent.name": "planner",
			"traceloop.workflow.name": "planner",
		}), Span{Kind: KindAgent, Source: SourceOpenLLMetry, AgentName: "planner"}},
		{"agent without gen_ai.agent.name", span("planner.agent", map[string]any{
			"traceloop.span.kind": "agent", "traceloop.entity.name": "planner",
		}), Span{Kind: KindAgent, Source: SourceOpenLLMetry, AgentName: "planner"}},
		{"tool inside an agent: gen_ai.agent.name is the agent's", span("search.tool", map[string]any{
			"traceloop.span.kind": "tool", "traceloop.entity.name": "search", "gen_ai.agent.name": "planner",
			"traceloop.workflow.name": "planner",
		}), Span{Kind: KindTool, Source: SourceOpenLLMetry, ToolName: "search"}},
		{"LLM span: GenAI keys decide", span("openai.chat", map[string]any{
			"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
			"gen_ai.usage.input_tokens": 30, "gen_ai.usage.output_tokens": 6, "llm.request.type": "chat",
			"traceloop.workflow.name": "planner", "gen_ai.agent.name": "planner",
		}), Span{Kind: KindLLM, Source: SourceGenAI, Provider: "openai", RequestModel: "gpt-4o", Tokens: Tokens{Input: 30, Output: 6}}},
		{"older LLM span: llm.request.type and llm.usage / *_input_tokens keys", span("openai.chat", map[string]any{
			"llm.request.type": "chat", "gen_ai.system": "OpenAI", "llm.usage.prompt_tokens": 40,
			"llm.usage.completion_tokens": 9, "gen_ai.usage.cache_read_input_tokens": 10,
			"gen_ai.usage.cache_creation_input_tokens": 2, "gen_ai.usage.reasoning_tokens": 3,
		}), Span{Kind: KindLLM, Source: SourceOpenLLMetry, Provider: "OpenAI", Tokens: Tokens{Input: 40, Output: 9, CacheRead: 10, CacheWrite: 2, Reasoning: 3}}},
		{"workflow name of a non-root span is not a session name", span("t.task", map[string]any{
			"traceloop.span.kind": "task", "traceloop.workflow.name": "w",
		}), Span{Kind: KindOther, Source: SourceOpenLLMetry}},
	})
}

// Langfuse's OTel SDK (@langfuse/core and @langfuse/tracing 5.11.1).
func TestReadLangfuse(t *testing.T) {
	runCases(t, []readCase{
		{"agent observation with session and trace name", span("support-agent", map[string]any{
			"langfuse.observation.type": "agent", "session.id": "lf-1", "langfuse.trace.name": "support",
		}), Span{Kind: KindAgent, Source: SourceLangfuse, SessionID: "lf-1", Name: "support", AgentName: "support-agent"}},
		{"older session key", span("x", map[string]any{"langfuse.observation.type": "span", "langfuse.session.id": "lf-2"}),
			Span{Kind: KindOther, Source: SourceLangfuse, SessionID: "lf-2"}},
		{"generation: usage details are disjoint, summed into GenAI terms", span("llm-call", map[string]any{
			"langfuse.observation.type": "generation", "langfuse.observation.model.name": "gpt-4o",
			"langfuse.observation.usage_details": `{"input":70,"output":15,"total":120,"input_cached_tokens":30,"output_reasoning_tokens":5}`,
		}), Span{Kind: KindLLM, Source: SourceLangfuse, ResponseModel: "gpt-4o",
			Tokens: Tokens{Input: 100, Output: 20, CacheRead: 30, Reasoning: 5}}},
		{"Anthropic-style usage keys", span("llm-call", map[string]any{
			"langfuse.observation.type":          "generation",
			"langfuse.observation.usage_details": `{"input":10,"output":2,"cache_read_input_tokens":40,"cache_creation_input_tokens":6}`,
		}), Span{Kind: KindLLM, Source: SourceLangfuse, Tokens: Tokens{Input: 56, Output: 2, CacheRead: 40, CacheWrite: 6}}},
		{"GenAI usage keys win over usage details", span("llm-call", map[string]any{
			"langfuse.observation.type": "generation", "gen_ai.usage.input_tokens": 7,
			"langfuse.observation.usage_details": `{"input":70}`,
		}), Span{Kind: KindLLM, Source: SourceLangfuse, Tokens: Tokens{Input: 7}}},
		{"malformed usage details read as none", span("llm-call", map[string]any{
			"langfuse.observation.type": "generation", "langfuse.observation.usage_details": `{"input":"many","output":[1]`,
		}), Span{Kind: KindLLM, Source: SourceLangfuse}},
		{"tool observation", span("get_weather", map[string]any{"langfuse.observation.type": "tool"}),
			Span{Kind: KindTool, Source: SourceLangfuse, ToolName: "get_weather"}},
		{"level ERROR is a failure, with its status message", span("get_weather", map[string]any{
			"langfuse.observation.type": "tool", "langfuse.observation.level": "ERROR",
			"langfuse.observation.status_message": "city not found",
		}), Span{Kind: KindTool, Source: SourceLangfuse, ToolName: "get_weather", Failed: true, Message: "city not found"}},
	})
}

// Vercel AI SDK telemetry (the ai package 6.0.333).
func TestReadVercelAI(t *testing.T) {
	runCases(t, []readCase{
		{"outer call: its totals are not an LLM call", span("ai.generateText", map[string]any{
			"ai.operationId": "ai.generateText", "ai.telemetry.functionId": "weather-bot",
			"ai.telemetry.metadata.sessionId": "v-1", "ai.model.id": "gpt-4o", "ai.model.provider": "openai.chat",
			"ai.usage.inputTokens": 300, "ai.usage.outputTokens": 40,
		}), Span{Kind: KindOther, Source: SourceVercelAI, SessionID: "v-1", Name: "weather-bot", Provider: "openai",
			RequestModel: "gpt-4o", Tokens: Tokens{Input: 300, Output: 40}}},
		{"provider call, SDK 6 keys beside GenAI keys: counted once", span("ai.generateText.doGenerate", map[string]any{
			"ai.operationId": "ai.generateText.doGenerate", "ai.model.id": "gpt-4o", "ai.model.provider": "openai.chat",
			"ai.response.model": "gpt-4o-2024-08-06", "gen_ai.system": "openai.chat", "gen_ai.request.model": "gpt-4o",
			"gen_ai.response.model": "gpt-4o-2024-08-06", "ai.usage.inputTokens": 150, "gen_ai.usage.input_tokens": 150,
			"ai.usage.outputTokens": 20, "gen_ai.usage.output_tokens": 20,
			"ai.usage.inputTokenDetails.cacheReadTokens": 64, "ai.usage.inputTokenDetails.cacheWriteTokens": 8,
			"ai.usage.outputTokenDetails.reasoningTokens": 6, "ai.telemetry.metadata.sessionId": "v-1",
		}), Span{Kind: KindLLM, Source: SourceVercelAI, SessionID: "v-1", Provider: "openai", RequestModel: "gpt-4o",
			ResponseModel: "gpt-4o-2024-08-06", Tokens: Tokens{Input: 150, Output: 20, CacheRead: 64, CacheWrite: 8, Reasoning: 6}}},
		{"provider call, SDK 4 and 5 keys", span("ai.streamText.doStream", map[string]any{
			"ai.operationId": "ai.streamText.doStream", "ai.model.provider": "anthropic.messages",
			"ai.usage.promptTokens": 12, "ai.usage.completionTokens": 3,
			"ai.usage.cachedInputTokens": 4, "ai.usage.reasoningTokens": 1,
		}), Span{Kind: KindLLM, Source: SourceVercelAI, Provider: "anthropic", Tokens: Tokens{Input: 12, Output: 3, CacheRead: 4, Reasoning: 1}}},
		{"embedding call", span("ai.embed.doEmbed", map[string]any{"ai.operationId": "ai.embed.doEmbed"}),
			Span{Kind: KindLLM, Source: SourceVercelAI}},
		{"tool call", span("ai.toolCall", map[string]any{
			"ai.operationId": "ai.toolCall", "ai.toolCall.name": "weather", "ai.telemetry.metadata.conversationId": "v-2",
		}), Span{Kind: KindTool, Source: SourceVercelAI, SessionID: "v-2", ToolName: "weather"}},
		{"other metadata is not a session ID", span("ai.toolCall", map[string]any{
			"ai.operationId": "ai.toolCall", "ai.toolCall.name": "weather", "ai.telemetry.metadata.userId": "u-1",
		}), Span{Kind: KindTool, Source: SourceVercelAI, ToolName: "weather"}},
	})
}

// A span in no convention is other; with only a session ID it still
// carries the session.
func TestReadNoConvention(t *testing.T) {
	runCases(t, []readCase{
		{"plain span", span("GET /", map[string]any{"http.method": "GET"}), Span{Kind: KindOther}},
		{"plain span with session.id", span("GET /", map[string]any{"session.id": "s"}), Span{Kind: KindOther, SessionID: "s"}},
	})
}

// The last exception event gives the reason of a failed span without a
// status message.
func TestReadExceptionEvent(t *testing.T) {
	s := failed(span("ai.generateText", map[string]any{"ai.operationId": "ai.generateText"}), "")
	for _, msg := range []string{"first", "Bad Request: model not found"} {
		e := s.Events().AppendEmpty()
		e.SetName("exception")
		e.Attributes().PutStr("exception.message", msg)
	}
	s.Events().AppendEmpty().SetName("log")
	got := Read(s)
	assert.True(t, got.Failed)
	assert.Equal(t, "Bad Request: model not found", got.Message)
}

// Values of the wrong type read as empty, never as a panic.
func TestReadWrongTypes(t *testing.T) {
	s := ptrace.NewSpan()
	a := s.Attributes()
	a.PutEmptyMap("session.id").PutStr("x", "y")
	a.PutEmptySlice("gen_ai.operation.name")
	a.PutEmptyBytes("gen_ai.usage.input_tokens").FromRaw([]byte{1})
	a.PutBool("gen_ai.usage.output_tokens", true)
	a.PutInt("crewtrace.session.tags", 3)
	got := Read(s)
	assert.Equal(t, Span{Kind: KindOther, Source: SourceGenAI}, got)
}

// Every table's keys are distinct across tables (one key, one field), and
// every convention's kind key is in its own table.
func TestTables(t *testing.T) {
	seen := map[string]Source{}
	for _, tb := range tables {
		for _, e := range tb.entries {
			prev, dup := seen[string(e.key)]
			assert.False(t, dup, "%s listed by %v and %v", e.key, prev, tb.source)
			seen[string(e.key)] = tb.source
		}
	}
	for _, kk := range kindKeys {
		found := false
		for _, tb := range tables {
			for _, e := range tb.entries {
				if e.field == kk.field {
					found = true
					assert.Equal(t, kk.source, tb.source, "kind key %s", e.key)
				}
			}
		}
		assert.True(t, found, "kind field %d has no key", kk.field)
	}
}

func TestTraceSource(t *testing.T) {
	var ss Sources
	assert.Equal(t, SourceNone, ss.TraceSource())
	ss.Add(SourceGenAI)
	assert.Equal(t, SourceGenAI, ss.TraceSource())
	ss.Add(SourceOpenLLMetry)
	assert.Equal(t, SourceOpenLLMetry, ss.TraceSource(), "GenAI LLM spans in an OpenLLMetry trace")
	ss.Add(SourceCrewtrace)
	assert.Equal(t, SourceCrewtrace, ss.TraceSource())
	require.Equal(t, "vercel_ai", SourceVercelAI.String())
	require.Equal(t, "", Source(200).String())
	var none Sources
	none.Add(Source(200))
	assert.Equal(t, SourceNone, none.TraceSource())
}
