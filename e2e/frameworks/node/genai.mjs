// A client that speaks only the OTel GenAI semantic conventions, through the
// plain OpenTelemetry API: three sessions at once — two rooted at
// invoke_workflow (one whose agent fails), one rooted at invoke_agent — each
// with gen_ai.conversation.id, invoke_agent children, chat and execute_tool
// spans with tokens. Prints what it did as its truth.
import { SpanStatusCode, trace } from '@opentelemetry/api';

import { finish, sessionID, startTracing } from './otel.mjs';

const provider = startTracing('genai-client');
const tracer = trace.getTracer('genai-client');

// span runs fn inside a span named name with attrs; a thrown error ends it
// with status Error and is rethrown.
function span(name, attrs, fn) {
  return tracer.startActiveSpan(name, { attributes: attrs }, async (s) => {
    try {
      return await fn(s);
    } catch (err) {
      s.recordException(err);
      s.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
      throw err;
    } finally {
      s.end();
    }
  });
}

function chat(truth, conv, model, input, output) {
  truth.llm_calls++;
  truth.models.add(model);
  truth.tokens.input += input;
  truth.tokens.output += output;
  return span(`chat ${model}`, {
    'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': model,
    'gen_ai.usage.input_tokens': input, 'gen_ai.usage.output_tokens': output, 'gen_ai.conversation.id': conv,
  }, async () => {});
}

function tool(truth, name) {
  truth.tool_calls++;
  truth.tools.push(name);
  return span(`execute_tool ${name}`, { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': name }, async () => {});
}

function agent(truth, conv, name, fn) {
  truth.agents.push(name);
  return span(`invoke_agent ${name}`, {
    'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': name, 'gen_ai.conversation.id': conv,
  }, fn);
}

function newTruth(conv, name) {
  return {
    session_id: conv, name, source: 'otel_genai', agents: [], llm_calls: 0, tool_calls: 0, tools: [],
    models: new Set(), tokens: { input: 0, output: 0 }, errors: 0, end_state: 'Success', end_reason: '',
  };
}

async function workflow(n, failHotels) {
  const conv = `${sessionID()}-${n}`;
  const t = newTruth(conv, 'trip-planner');
  await span('invoke_workflow trip-planner', {
    'gen_ai.operation.name': 'invoke_workflow', 'gen_ai.workflow.name': 'trip-planner', 'gen_ai.conversation.id': conv,
  }, async (root) => {
    t.trace_id = root.spanContext().traceId;
    await agent(t, conv, 'flights', async () => {
      await chat(t, conv, 'gpt-4o', 120 + n, 30);
      await tool(t, 'search_flights');
    });
    try {
      await agent(t, conv, 'hotels', async () => {
        await chat(t, conv, 'gpt-4o-mini', 80, 20 + n);
        await tool(t, 'book_hotel');
        if (failHotels) throw new Error('no rooms left');
      });
    } catch (err) {
      t.errors = 1;
      t.end_state = 'Fail';
      t.end_reason = `agent hotels: ${err.message}`;
    }
  });
  return t;
}

async function concierge() {
  const conv = `${sessionID()}-3`;
  const t = newTruth(conv, 'concierge');
  t.agents.push('concierge');
  await span('invoke_agent concierge', {
    'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': 'concierge', 'gen_ai.conversation.id': conv,
  }, async (root) => {
    t.trace_id = root.spanContext().traceId;
    await chat(t, conv, 'gpt-4o', 50, 10);
    await tool(t, 'lookup');
    await chat(t, conv, 'gpt-4o', 70, 12);
  });
  return t;
}

const traces = await Promise.all([workflow(1, false), workflow(2, true), concierge()]);
for (const t of traces) t.models = [...t.models];
await finish(provider, { traces });
