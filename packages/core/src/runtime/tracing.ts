import {
  type Attributes,
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import type { JsonValue } from '../world/schemas/primitives.js';

export { traceMetadataKey } from '../workflow/reserved-names.js';

/*
 * Tracing through `@opentelemetry/api` only: without an SDK registered every call here is
 * a no-op. A run's trace context is stored in its run_created metadata under
 * `cairn.trace`, so any worker process, on any later day, can add spans to the same
 * trace. Spans are emitted only by whoever did the work or made the write they describe (a
 * step attempt, a committed wait_completed, a committed terminal event), never by a
 * replay, so replaying a run a hundred times adds no span.
 */

/** A W3C trace-context carrier (`traceparent`, `tracestate`), as stored and as sent in messages. */
export type TraceCarrier = Record<string, string>;

const tracer = () => trace.getTracer('@cairn/core');

/** The trace context of `parent` (the caller's active one by default) as a carrier, or undefined when none is being traced. */
export function traceCarrierOf(parent: Context = context.active()): TraceCarrier | undefined {
  const carrier: TraceCarrier = {};
  propagation.inject(parent, carrier);
  return Object.keys(carrier).length === 0 ? undefined : carrier;
}

/** Reads a carrier back from metadata or a message; anything malformed counts as no trace. */
export function asTraceCarrier(value: JsonValue | undefined): TraceCarrier | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const carrier: TraceCarrier = {};
  for (const [key, item] of Object.entries(value)) if (typeof item === 'string') carrier[key] = item;
  return Object.keys(carrier).length === 0 ? undefined : carrier;
}

function contextOf(carrier: TraceCarrier | undefined): Context {
  return carrier === undefined ? ROOT_CONTEXT : propagation.extract(ROOT_CONTEXT, carrier);
}

/** Starts the span of `client.start`; its context becomes the run's trace. */
export function startRunSpan(workflowName: string, runId: string): { span: Span; carrier: TraceCarrier | undefined } {
  const span = tracer().startSpan(`cairn.start ${workflowName}`, {
    kind: SpanKind.PRODUCER,
    attributes: { 'cairn.run_id': runId, 'cairn.workflow': workflowName },
  });
  return { span, carrier: traceCarrierOf(trace.setSpan(context.active(), span)) };
}

/** Runs `body` inside a span that is a child of the run's trace, ending it with the outcome. */
export async function withSpan<Value>(
  name: string,
  carrier: TraceCarrier | undefined,
  attributes: Attributes,
  body: () => Promise<Value>,
  judge: (value: Value) => string | undefined = () => undefined,
): Promise<Value> {
  const span = tracer().startSpan(name, { kind: SpanKind.INTERNAL, attributes }, contextOf(carrier));
  try {
    const value = await context.with(trace.setSpan(contextOf(carrier), span), body);
    const failure = judge(value);
    if (failure !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: failure });
    return value;
  } catch (error) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
    throw error;
  } finally {
    span.end();
  }
}

/** A span for something that already happened between two recorded instants (a sleep, a hook, a whole run). */
export function recordSpan(
  name: string,
  carrier: TraceCarrier | undefined,
  timing: { start: number; end: number },
  attributes: Attributes,
  options: { failure?: string; events?: { name: string; time: number }[] } = {},
): void {
  const span = tracer().startSpan(name, { startTime: timing.start, attributes }, contextOf(carrier));
  for (const event of options.events ?? []) span.addEvent(event.name, event.time);
  if (options.failure !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: options.failure });
  span.end(timing.end);
}
