import type { Hook, Run, Step, WorldEvent } from '@cairn/core/world';

/*
 * A view's payloads (a step's input and output, a run's input and outcome, a hook's
 * metadata) are stored once, in the event whose `eventData` carries them (migration 4).
 * The view's row keeps each such key, in its place, holding null, and a column holds the
 * seq of that event; a read joins the event and puts the value back under the same key.
 * Assigning to a key an object already has keeps its position, so the view comes back
 * with its keys in the order they were written, as it did when the row held everything.
 *
 * A null column means the body holds the field itself: rows written before migration 4, a
 * small payload (see `smallPayloadLength`), or a field whose event is not known to the
 * writer (see `stepRow`). A column may also name the event of a field the body holds (a
 * run's small input beside its large metadata): the read then writes the same value over it.
 */

/** Fields of a view stored in one event: the view's key, and the key in the event's `eventData`. */
export interface PayloadReference {
  /** The row's column holding the event's seq. */
  column: string;
  fields: readonly (readonly [viewField: string, eventField: string])[];
}

/** A run's input and metadata are in `run_created`; its outcome in the event that ended it. */
export const runPayloads: readonly PayloadReference[] = [
  {
    column: 'input_seq',
    fields: [
      ['input', 'input'],
      ['metadata', 'metadata'],
    ],
  },
  {
    column: 'outcome_seq',
    fields: [
      ['output', 'output'],
      ['error', 'error'],
      ['cancelReason', 'reason'],
    ],
  },
];

/** A step's input is in `step_created`, its output in `step_completed`, its error in its last failure or retry. */
export const stepPayloads: readonly PayloadReference[] = [
  { column: 'input_seq', fields: [['input', 'input']] },
  { column: 'output_seq', fields: [['output', 'output']] },
  { column: 'error_seq', fields: [['error', 'error']] },
];

/** A hook's metadata is in `hook_created`. */
export const hookPayloads: readonly PayloadReference[] = [
  { column: 'metadata_seq', fields: [['metadata', 'metadata']] },
];

/** The most references an entity has: every statement that unions entities selects this many payload columns. */
export const payloadWidth = 3;

/**
 * SQL for reading the rows of `alias` whole: `columns` selects `payload0`, `payload1`, …
 * (each referenced event's body, or null), padded with nulls to `width`, each preceded by
 * a comma, to follow the body in a select list; `joins` are the joins they need, to put
 * after the row's table in the FROM list. The event comes whole, and `eventData` is taken
 * from it here: PostgreSQL's JSON operators refuse a value holding an escaped NUL
 * character, which the log accepts.
 */
export function payloadSql(
  events: string,
  alias: string,
  references: readonly PayloadReference[],
  width = references.length,
): { columns: string; joins: string } {
  const columns: string[] = [];
  const joins: string[] = [];
  for (let index = 0; index < width; index++) {
    const reference = references[index];
    if (reference === undefined) {
      columns.push(`, NULL::json AS payload${index}`);
      continue;
    }
    const event = `${alias}_event${index}`;
    columns.push(`, ${event}.body AS payload${index}`);
    joins.push(
      `LEFT JOIN ${events} ${event} ON ${event}.run_id = ${alias}.run_id AND ${event}.seq = ${alias}.${reference.column}`,
    );
  }
  return { columns: columns.join(''), joins: joins.join(' ') };
}

/** A row as `payloadSql` reads it. */
export interface StoredRow<View> {
  body: View;
  [payload: `payload${number}`]: unknown;
}

/** The view of a row read with `payloadSql`: each referenced event's value put back under its key. */
export function composeView<View>(row: StoredRow<View>, references: readonly PayloadReference[]): View {
  const body = row.body as Record<string, unknown>;
  references.forEach((reference, index) => {
    const event = row[`payload${index}`] as { eventData?: Record<string, unknown> } | null | undefined;
    const data = event?.eventData;
    if (data === undefined) return;
    for (const [viewField, eventField] of reference.fields) {
      if (viewField in body) body[viewField] = data[eventField];
    }
  });
  return row.body;
}

/** `view` with each of `fields` set to null, in its place: a copy, unless there are none. */
function withPlaceholders(view: object, fields: readonly string[]): object {
  if (fields.length === 0) return view;
  const copy: Record<string, unknown> = { ...view };
  for (const field of fields) copy[field] = null;
  return copy;
}

/**
 * A payload whose JSON is at most this long stays in its row: naming its event instead
 * saves next to nothing (the row then holds a seq and a null), and costs a join on every read.
 */
const smallPayloadLength = 64;

/**
 * The length of `value` written as JSON, counted only until it passes `budget` (escapes
 * are not counted: this only decides where a payload is kept).
 */
function jsonLength(value: unknown, budget: number): number {
  if (typeof value === 'string') return value.length + 2;
  if (value === null || typeof value !== 'object') return String(value).length;
  let length = 2;
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length && length <= budget; index++) {
      length += 1 + jsonLength(value[index], budget - length);
    }
    return length;
  }
  for (const key in value) {
    if (length > budget) break;
    length += key.length + 4 + jsonLength((value as Record<string, unknown>)[key], budget - length);
  }
  return length;
}

/** Whether the view's `field` is kept in its event rather than in the row. */
const inEvent = (view: object, field: string) => {
  const value = (view as Record<string, unknown>)[field];
  return value !== undefined && jsonLength(value, smallPayloadLength) > smallPayloadLength;
};

/**
 * The seq of the last event of each type and correlation id in a batch, by
 * `type:correlationId` (run events have no correlation id).
 */
export function lastSeqs(events: readonly WorldEvent[]): Map<string, number> {
  const seqs = new Map<string, number>();
  for (const event of events) seqs.set(`${event.eventType}:${event.correlationId ?? ''}`, event.seq);
  return seqs;
}

/**
 * `run_created` is always seq 1: the draft refuses it on a run that exists, and a new run's
 * first stamp is 1. So a run's input is found there whichever append writes the row.
 */
const runCreatedSeq = 1;

const creationFields = ['input', 'metadata'];
const outcomeFields = ['output', 'error', 'cancelReason'];
const outcomeEventTypes = ['run_completed', 'run_failed', 'run_cancelled'];

/** The run's row, leaving its large payloads to their events: its body, and those events' seqs. */
export function runRow(run: Run, seqs: ReadonlyMap<string, number>) {
  const creation = creationFields.filter((field) => inEvent(run, field));
  const outcome = outcomeFields.filter((field) => inEvent(run, field));
  // The outcome appears only with the event that ends the run, which is in this batch: an
  // ended run takes no more appends.
  const outcomeSeq =
    outcome.length === 0
      ? null
      : (outcomeEventTypes.map((type) => seqs.get(`${type}:`)).find((seq) => seq !== undefined) ?? null);
  const inputSeq = creation.length === 0 ? null : runCreatedSeq;
  const stored = [...creation, ...(outcomeSeq === null ? [] : outcome)];
  return { body: JSON.stringify(withPlaceholders(run, stored)), inputSeq, outcomeSeq };
}

/**
 * A step's row, leaving its large payloads to their events. Its input is in its
 * `step_created` event; its output appears only with `step_completed`, in the same batch
 * (a completed step takes no more events). Its error may come from an event of an earlier
 * batch (a retry, then this batch's start or completion), whose seq is not known here:
 * `errorSeq` is then null, and `bodyWithError` is the body for a row that holds the error
 * itself (one written before migration 4); `append_batch` keeps whichever the row needs.
 * Otherwise `bodyWithError` is null.
 */
export function stepRow(step: Step, seqs: ReadonlyMap<string, number>) {
  const key = (type: string) => seqs.get(`${type}:${step.stepId}`);
  const inputInEvent = inEvent(step, 'input');
  const outputSeq = inEvent(step, 'output') ? (key('step_completed') ?? null) : null;
  const errorInEvent = inEvent(step, 'error');
  // A failure is the step's last event; otherwise its error is from its last retry.
  const errorSeq = errorInEvent ? (key('step_failed') ?? key('step_retrying') ?? null) : null;
  const fields = [...(inputInEvent ? ['input'] : []), ...(outputSeq === null ? [] : ['output'])];
  return {
    body: withPlaceholders(step, errorInEvent ? [...fields, 'error'] : fields),
    bodyWithError: errorInEvent && errorSeq === null ? withPlaceholders(step, fields) : null,
    inputInEvent,
    outputSeq,
    errorSeq,
  };
}

/** A hook's row, leaving large metadata to its `hook_created` event. */
export function hookRow(hook: Hook) {
  const metadataInEvent = inEvent(hook, 'metadata');
  return { body: withPlaceholders(hook, metadataInEvent ? ['metadata'] : []), metadataInEvent };
}
