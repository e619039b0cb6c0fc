// (e) A three-turn chat: each turn is its own trace (an OpenInference chain
// around an instrumented openai call), all three carrying one session ID set
// with @arizeai/openinference-core. Prints what it did as its truth.
import { context } from '@opentelemetry/api';
import { setSession, traceChain } from '@arizeai/openinference-core';
import { OpenAIInstrumentation } from '@arizeai/openinference-instrumentation-openai';
import OpenAI from 'openai';

import { addUsage, finish, openaiBaseURL, roots, sessionID, startTracing, zeroTokens } from './otel.mjs';

const provider = startTracing('chat-app');
const instrumentation = new OpenAIInstrumentation();
instrumentation.setTracerProvider(provider);
instrumentation.manuallyInstrument(OpenAI);
const client = new OpenAI({ baseURL: openaiBaseURL(), apiKey: 'test', maxRetries: 0 });

const history = [];
const traces = [];
const turn = traceChain(async (text) => {
  history.push({ role: 'user', content: text });
  const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: history });
  history.push(res.choices[0].message);
  return res.usage;
}, { name: 'chat-turn' });

for (const text of ['Hello', 'What can you do?', 'Thanks, bye']) {
  const usage = await context.with(setSession(context.active(), { sessionId: sessionID() }), () => turn(text));
  const tokens = zeroTokens();
  addUsage(tokens, usage);
  traces.push({
    session_id: sessionID(), name: 'chat-turn', source: 'openinference', agents: [], llm_calls: 1,
    tool_calls: 0, tools: [], models: ['gpt-4o-mini'], tokens, errors: 0, end_state: 'Success', end_reason: '',
  });
}
roots.roots.forEach((r, i) => { traces[i].trace_id = r.traceId; });
await finish(provider, { traces });
