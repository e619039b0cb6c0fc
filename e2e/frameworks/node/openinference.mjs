// (a) OpenInference: the openai client instrumented by
// @arizeai/openinference-instrumentation-openai, a session ID set with
// @arizeai/openinference-core's context helpers, an agent-like chain with two
// agents, and a tool call. Prints what it did as its truth.
import { context } from '@opentelemetry/api';
import { setSession, traceAgent, traceChain, traceTool } from '@arizeai/openinference-core';
import { OpenAIInstrumentation } from '@arizeai/openinference-instrumentation-openai';
import OpenAI from 'openai';

import { activeTraceID, addUsage, finish, openaiBaseURL, sessionID, startTracing, zeroTokens } from './otel.mjs';

const provider = startTracing('openinference-crew');
const instrumentation = new OpenAIInstrumentation();
instrumentation.setTracerProvider(provider);
instrumentation.manuallyInstrument(OpenAI); // ES modules are not patched on import

const client = new OpenAI({ baseURL: openaiBaseURL(), apiKey: 'test', maxRetries: 0 });
const tokens = zeroTokens();
let llmCalls = 0;
let traceID = '';

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

async function chat(messages, tools) {
  const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, tools });
  llmCalls++;
  addUsage(tokens, res.usage);
  return res.choices[0].message;
}

const getWeather = traceTool(async ({ city }) => `sunny in ${city}`, {
  name: 'get_weather',
  attributes: { 'tool.name': 'get_weather' },
});

const researcher = traceAgent(async (question) => {
  const messages = [{ role: 'user', content: question }];
  const first = await chat(messages, [weatherTool]);
  messages.push(first);
  for (const call of first.tool_calls ?? []) {
    const result = await getWeather(JSON.parse(call.function.arguments));
    messages.push({ role: 'tool', tool_call_id: call.id, content: result });
  }
  return (await chat(messages, [weatherTool])).content;
}, { name: 'researcher', attributes: { 'agent.name': 'researcher' } });

const writer = traceAgent(async (notes) => {
  return (await chat([{ role: 'system', content: 'Write it up.' }, { role: 'user', content: notes }])).content;
}, { name: 'writer' });

const crew = traceChain(async (question) => {
  traceID = activeTraceID();
  return writer(await researcher(question));
}, { name: 'weather-report' });

await context.with(setSession(context.active(), { sessionId: sessionID() }), () => crew('Weather in Paris?'));

await finish(provider, {
  traces: [{
    trace_id: traceID, session_id: sessionID(), name: 'weather-report', source: 'openinference',
    agents: ['researcher', 'writer'], llm_calls: llmCalls, tool_calls: 1, tools: ['get_weather'],
    models: ['gpt-4o-mini'], tokens, errors: 0, end_state: 'Success', end_reason: '',
  }],
});
