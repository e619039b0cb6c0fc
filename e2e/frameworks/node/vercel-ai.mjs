// (c) Vercel AI SDK: generateText with experimental_telemetry and a session
// ID in its metadata — one turn that calls a tool, one turn whose model call
// fails. Each call is its own trace, as in an AI SDK app. Prints what it did
// as its truth.
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, stepCountIs, tool } from 'ai';
import { z } from 'zod';

import { finish, openaiBaseURL, roots, sessionID, startTracing } from './otel.mjs';

const provider = startTracing('vercel-ai-app');
const openai = createOpenAI({ baseURL: openaiBaseURL(), apiKey: 'test' });
const telemetry = { isEnabled: true, functionId: 'weather-assistant', metadata: { sessionId: sessionID(), userId: 'u-1' } };

// Turn 1: the model asks for the weather tool, gets its result, answers.
const first = await generateText({
  model: openai.chat('gpt-4o-mini'),
  prompt: 'Weather in Paris?',
  tools: {
    get_weather: tool({
      description: 'Current weather in a city',
      inputSchema: z.object({ city: z.string() }),
      execute: async ({ city }) => `sunny in ${city}`,
    }),
  },
  stopWhen: stepCountIs(3),
  maxRetries: 0,
  experimental_telemetry: telemetry,
});

// Turn 2: the provider refuses the model.
let failure = '';
try {
  await generateText({ model: openai.chat('fail-model'), prompt: 'Weather in Rome?', maxRetries: 0, experimental_telemetry: telemetry });
} catch (err) {
  failure = err.message;
}
if (!failure) throw new Error('the failing call did not fail');
if (roots.roots.length !== 2) throw new Error(`expected 2 traces, saw ${JSON.stringify(roots.roots)}`);

await finish(provider, {
  traces: [{
    trace_id: roots.roots[0].traceId, session_id: sessionID(), name: 'weather-assistant', source: 'vercel_ai',
    agents: [], llm_calls: first.steps.length, tool_calls: 1, tools: ['get_weather'], models: ['gpt-4o-mini'],
    tokens: {
      input: first.totalUsage.inputTokens, output: first.totalUsage.outputTokens,
      cache_read: first.totalUsage.inputTokenDetails?.cacheReadTokens ?? 0,
      reasoning: first.totalUsage.outputTokenDetails?.reasoningTokens ?? 0,
    },
    errors: 0, end_state: 'Success', end_reason: '',
  }, {
    trace_id: roots.roots[1].traceId, session_id: sessionID(), name: 'weather-assistant', source: 'vercel_ai',
    // The provider call fails (one error) and so does the outer call, the
    // trace's root: the session fails with the root's message.
    agents: [], llm_calls: 1, tool_calls: 0, tools: [], models: ['fail-model'],
    tokens: { input: 0, output: 0 }, errors: 1, end_state: 'Fail', end_reason: failure,
  }],
});
