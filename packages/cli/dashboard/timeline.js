// The run timeline as data: one row per step, child run, sleep and hook, each with segments
// on a shared time axis. Kept free of the DOM so the page and its tests read the same model.

const streamWriteStep = 'cairn:stream-write';
const childPrefix = 'cairn:child:';

/** `850ms`, `12.3s`, `4m05s`. */
export function formatDuration(ms) {
  if (!Number.isFinite(ms)) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes}m${String(Math.floor((ms % 60_000) / 1000)).padStart(2, '0')}s`;
}

function eventsByCorrelation(events) {
  const grouped = new Map();
  for (const event of events) {
    if (!event.correlationId) continue;
    const list = grouped.get(event.correlationId) ?? [];
    list.push(event);
    grouped.set(event.correlationId, list);
  }
  return grouped;
}

/** A step's attempts, with the backoff between a failed attempt and the next one. */
function stepSegments(step, stepEvents, end) {
  const segments = [];
  let attemptStart = step.createdAt;
  let attempt = 0;
  for (const event of stepEvents) {
    if (event.eventType === 'step_started') attemptStart = event.createdAt;
    if (event.eventType === 'step_retrying') {
      attempt += 1;
      const error = event.eventData?.error;
      segments.push({ kind: 'attempt', attempt, outcome: 'failed', from: attemptStart, to: event.createdAt, error });
      // Inline attempts record no start; the next one begins when its backoff ends.
      const resumeAt = Math.max(event.createdAt, event.eventData?.retryAfter ?? event.createdAt);
      segments.push({ kind: 'backoff', from: event.createdAt, to: resumeAt });
      attemptStart = resumeAt;
    }
    if (event.eventType === 'step_completed' || event.eventType === 'step_failed') {
      attempt += 1;
      const outcome = event.eventType === 'step_completed' ? 'completed' : 'failed';
      segments.push({ kind: 'attempt', attempt, outcome, from: attemptStart, to: event.createdAt });
    }
  }
  if (step.status !== 'completed' && step.status !== 'failed') {
    segments.push({ kind: 'attempt', attempt: attempt + 1, outcome: 'running', from: attemptStart, to: end });
  }
  return segments;
}

/**
 * `{ start, end, rows }`. Times are epoch ms; a row is `{ kind, label, id, status, segments,
 * marks, childRunId? }` where kind is step, child, sleep or hook.
 */
export function timelineModel(detail) {
  const { run, events, steps, waits, hooks, now } = detail;
  const lastEventAt = events.length ? events[events.length - 1].createdAt : run.createdAt;
  const start = run.createdAt;
  const end = Math.max(run.completedAt ?? Math.max(now, lastEventAt), start + 1);
  const grouped = eventsByCorrelation(events);
  const rows = [];
  for (const step of steps) {
    if (step.stepName === streamWriteStep) continue;
    const child = step.stepName.startsWith(childPrefix);
    rows.push({
      kind: child ? 'child' : 'step',
      label: child ? `child ${step.stepName.slice(childPrefix.length)}` : step.stepName,
      id: step.stepId,
      status: step.status,
      retries: step.retries,
      segments: stepSegments(step, grouped.get(step.stepId) ?? [], end),
      marks: [],
      ...(child ? { childRunId: `${run.runId}~${step.stepId}` } : {}),
    });
  }
  for (const wait of waits) {
    const to = wait.completedAt ?? Math.min(Math.max(wait.resumeAt, wait.createdAt), end);
    rows.push({
      kind: 'sleep',
      // The requested duration is not recorded (only the due time, and the wait is committed
      // a moment after the call), so the label gives the due time relative to the run's start.
      label: `sleep until +${formatDuration(wait.resumeAt - run.createdAt)}`,
      id: wait.waitId,
      status: wait.status,
      segments: [{ kind: 'sleep', outcome: wait.status, from: wait.createdAt, to }],
      marks: [],
    });
  }
  for (const hook of hooks) {
    const received = (grouped.get(hook.hookId) ?? []).filter((event) => event.eventType === 'hook_received');
    const to = received[0]?.createdAt ?? hook.disposedAt ?? end;
    rows.push({
      kind: 'hook',
      label: `hook ${hook.token}`,
      id: hook.hookId,
      status: received.length ? 'received' : hook.status === 'active' ? 'waiting' : hook.status,
      segments: [{ kind: 'hook', outcome: received.length ? 'received' : 'waiting', from: hook.createdAt, to }],
      marks: received.map((event) => event.createdAt),
    });
  }
  rows.sort((left, right) => left.segments[0].from - right.segments[0].from);
  return { start, end, rows };
}
