// (d) Langfuse: @langfuse/tracing observations — an agent, two generations,
// two tools (one failing) — with a session ID and trace name propagated by
// propagateAttributes, through Langfuse's span processor (@langfuse/otel)
// with the OTel SDK's OTLP exporter pointed at the collector. The openai
// client is plain: the generations carry the usage it reports, as Langfuse's
// usage details. Prints what it did as its truth.
import { LangfuseSpanProcessor } from '@langfuse/otel';
import { propagateAttributes, startActiveObservation, startObservation } from '@langfuse/tracing';
import OpenAI from 'openai';

import { addUsage, finish, openaiBaseURL, otlpExporter, roots, sessionID, startTracing, zeroTokens } from './otel.mjs';

const provider = startTracing('langfuse-app', [new LangfuseSpanProcessor({
  exporter: otlpExporter(),
  publicKey: 'pk-lf-test',
  secretKey: 'sk-lf-test',
  baseUrl: new URL(openaiBaseURL()).origin, // never reached: media upload is off
  mediaUploadEnabled: false,
})]);
const client = new OpenAI({ baseURL: openaiBaseURL(), apiKey: 'test', maxRetries: 0 });
const tokens = zeroTokens();

// usageDetails as Langfuse's OpenAI integration writes them: input and
// output without their details, each detail apart.
function usageDetails(u) {
  const cached = u.prompt_tokens_details?.cached_tokens ?? 0;
  const reasoning = u.completion_tokens_details?.reasoning_tokens ?? 0;
  return {
    input: u.prompt_tokens - cached, input_cached_tokens: cached,
    output: u.completion_tokens - reasoning, output_reasoning_tokens: reasoning,
    total: u.total_tokens,
  };
}

async function generation(name, messages) {
  const gen = startObservation(name, { model: 'gpt-4.1', input: messages }, { asType: 'generation' });
  const res = await client.chat.completions.create({ model: 'gpt-4.1', messages });
  addUsage(tokens, res.usage);
  gen.update({ output: res.choices[0].message, usageDetails: usageDetails(res.usage) }).end();
  return res.choices[0].message.content;
}

await startActiveObservation('support-agent', async () => {
  await propagateAttributes({ sessionId: sessionID(), traceName: 'support' }, async () => {
    const plan = await generation('plan', [{ role: 'user', content: 'Book dinner after checking the weather.' }]);
    startObservation('get_weather', { input: { city: 'Paris' } }, { asType: 'tool' }).update({ output: 'sunny' }).end();
    startObservation('book_table', { input: { time: '20:00' } }, { asType: 'tool' })
      .update({ level: 'ERROR', statusMessage: 'no table free' }).end();
    await generation('answer', [{ role: 'user', content: plan }, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'and?' }]);
  });
}, { asType: 'agent' });

await finish(provider, {
  traces: [{
    trace_id: roots.roots[0].traceId, session_id: sessionID(), name: 'support', source: 'langfuse',
    agents: ['support-agent'], llm_calls: 2, tool_calls: 2, tools: ['get_weather', 'book_table'], models: ['gpt-4.1'],
    tokens, errors: 1, end_state: 'Success', end_reason: '',
  }],
});
