// Shared set-up of the e2e framework programs: an OpenTelemetry tracer
// provider exporting OTLP/HTTP (protobuf) to the collector named by
// CREWTRACE_OTLP_HTTP (host:port), the global context manager, and the
// truth each program prints as its last line of output.
import { trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

/** The collector's OTLP/HTTP traces endpoint. */
export function otlpExporter() {
  const endpoint = process.env.CREWTRACE_OTLP_HTTP;
  if (!endpoint) throw new Error('CREWTRACE_OTLP_HTTP (host:port of the collector) is not set');
  return new OTLPTraceExporter({ url: `http://${endpoint}/v1/traces` });
}

/**
 * RootRecorder is a span processor that notes the trace ID of every trace
 * root span started, in order: how a program knows the traces it wrote
 * when a library starts them.
 */
export class RootRecorder {
  constructor() { this.roots = []; }
  onStart(span) {
    if (!span.parentSpanContext) this.roots.push({ name: span.name, traceId: span.spanContext().traceId });
  }
  onEnd() {}
  forceFlush() { return Promise.resolve(); }
  shutdown() { return Promise.resolve(); }
}

/** roots notes the trace roots of the provider startTracing registers. */
export const roots = new RootRecorder();

/**
 * Registers a global tracer provider for service with the given span
 * processors (default: a batch processor exporting to the collector), and
 * roots.
 */
export function startTracing(service, spanProcessors = [new BatchSpanProcessor(otlpExporter())]) {
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    spanProcessors: [roots, ...spanProcessors],
  });
  provider.register();
  return provider;
}

/** The OpenAI-compatible server the test runs on 127.0.0.1. */
export function openaiBaseURL() {
  const url = process.env.OPENAI_BASE_URL;
  if (!url) throw new Error('OPENAI_BASE_URL (the fake OpenAI server) is not set');
  return url;
}

/** The session ID the test gives the program. */
export function sessionID() {
  const id = process.env.CREWTRACE_TEST_SESSION_ID;
  if (!id) throw new Error('CREWTRACE_TEST_SESSION_ID is not set');
  return id;
}

/** Adds an OpenAI chat completion's usage to totals (GenAI terms). */
export function addUsage(totals, usage) {
  totals.input += usage?.prompt_tokens ?? 0;
  totals.output += usage?.completion_tokens ?? 0;
  totals.cache_read += usage?.prompt_tokens_details?.cached_tokens ?? 0;
  totals.reasoning += usage?.completion_tokens_details?.reasoning_tokens ?? 0;
}

export function zeroTokens() {
  return { input: 0, output: 0, cache_read: 0, reasoning: 0 };
}

/** The trace ID of the active span (so the test can find the record). */
export function activeTraceID() {
  return trace.getActiveSpan()?.spanContext().traceId ?? '';
}

/** Flushes and shuts the provider down, then prints the truth as one JSON line. */
export async function finish(provider, truth) {
  await provider.forceFlush();
  await provider.shutdown();
  process.stdout.write(`TRUTH ${JSON.stringify(truth)}\n`);
}
