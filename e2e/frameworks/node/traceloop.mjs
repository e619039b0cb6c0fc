// (b) OpenLLMetry: @traceloop/node-server-sdk with a workflow, two agents,
// tools and a session ID as an association property; the openai client is
// instrumented by the SDK's own OpenAI instrumentation. Prints what it did
// as its truth.
import * as traceloop from '@traceloop/node-server-sdk';
import OpenAI from 'openai';

import { RootRecorder, addUsage, openaiBaseURL, otlpExporter, sessionID, zeroTokens } from './otel.mjs';

const roots = new RootRecorder();
traceloop.initialize({
  appName: 'traceloop-crew',
  processor: roots,
  exporter: otlpExporter(),
  traceloopSyncEnabled: false,
  silenceInitializationMessage: true,
  instrumentModules: { openAI: OpenAI },
});

const client = new OpenAI({ baseURL: openaiBaseURL(), apiKey: 'test', maxRetries: 0 });
const tokens = zeroTokens();
let llmCalls = 0;

async function chat(messages) {
  const res = await client.chat.completions.create({ model: 'gpt-4o', messages });
  llmCalls++;
  addUsage(tokens, res.usage);
  return res.choices[0].message.content;
}

const flights = () => traceloop.withAgent({ name: 'flights' }, async () => {
  const found = await traceloop.withTool({ name: 'search_flights' }, async () => 'AF123 CDG-JFK');
  return chat([{ role: 'user', content: `Pick one: ${found}` }]);
});

const hotels = () => traceloop.withAgent({ name: 'hotels' }, async () => {
  const rooms = await traceloop.withTool({ name: 'search_hotels' }, async () => 'Hotel A, Hotel B');
  const pick = await chat([{ role: 'user', content: `Pick one: ${rooms}` }, { role: 'assistant', content: 'Hotel A' }, { role: 'user', content: 'Sure?' }]);
  await traceloop.withTool({ name: 'book_hotel' }, async () => `booked ${pick}`);
  return pick;
});

await traceloop.withWorkflow({ name: 'trip-planner', associationProperties: { session_id: sessionID(), user_id: 'u-1' } }, async () => {
  await flights();
  await hotels();
});

await traceloop.forceFlush();
process.stdout.write(`TRUTH ${JSON.stringify({
  traces: [{
    trace_id: roots.roots[0]?.traceId, session_id: sessionID(), name: 'trip-planner', source: 'openllmetry',
    agents: ['flights', 'hotels'], llm_calls: llmCalls, tool_calls: 3,
    tools: ['search_flights', 'search_hotels', 'book_hotel'], models: ['gpt-4o'],
    tokens: { input: tokens.input, output: tokens.output }, errors: 0, end_state: 'Success', end_reason: '',
  }],
})}\n`);
process.exit(0);
