import { describe, expect, it } from 'vitest';
import { replayEvents, workflow } from '../src/index.js';
import {
  type CreateEventRequest,
  EntityConflictError,
  RunDraft,
  type RunEntityReader,
  type WorldEvent,
} from '../src/world/index.js';

const nothing: RunEntityReader = {
  step: () => undefined,
  hook: () => undefined,
  wait: () => undefined,
  tokenHolder: () => undefined,
  deliveryHolder: () => undefined,
  activeHooks: () => [],
};

const waiting = (message: string, workerWorkflows?: string[]): CreateEventRequest => ({
  eventType: 'run_waiting',
  eventData: {
    reason: 'workflow-not-registered',
    message,
    ...(workerWorkflows === undefined ? {} : { workerWorkflows }),
  },
});

/** Applies `requests` to a fresh run, one commit each, 10 ms apart from t=1000. */
function applyAll(requests: CreateEventRequest[]) {
  const draft = new RunDraft('run-1', undefined, nothing);
  requests.forEach((request, index) => {
    const seq = index + 1;
    draft.apply(request, { seq, eventId: `evt_${seq}`, createdAt: 1000 + index * 10 });
  });
  return draft;
}

const created: CreateEventRequest = { eventType: 'run_created', eventData: { workflowName: 'missing' } };

describe('run_waiting in the entity rules', () => {
  it('sets Run.waiting on a pending run, keeps since across reports of one reason, and run_started clears it', () => {
    const draft = applyAll([created, waiting('first', ['a']), waiting('second')]);
    expect(draft.run?.waiting).toEqual({ reason: 'workflow-not-registered', message: 'second', since: 1010 });
    expect(draft.run?.status).toBe('pending');
    draft.apply({ eventType: 'run_started' }, { seq: 4, eventId: 'evt_4', createdAt: 1030 });
    expect(draft.run?.status).toBe('running');
    expect(draft.run && 'waiting' in draft.run).toBe(false);
  });

  it('is cleared by a terminal event and refused once the run has started', () => {
    const cancelled = applyAll([created, waiting('nobody'), { eventType: 'run_cancelled' }]);
    expect(cancelled.run?.status).toBe('cancelled');
    expect(cancelled.run?.waiting).toBeUndefined();
    const started = applyAll([created, { eventType: 'run_started' }]);
    let thrown: unknown;
    try {
      started.apply(waiting('late'), { seq: 3, eventId: 'evt_3', createdAt: 2000 });
    } catch (error) {
      thrown = error;
    }
    expect(EntityConflictError.is(thrown)).toBe(true);
    expect((thrown as Error).message).toContain('refusing run_waiting');
  });
});

describe('replay and run_waiting', () => {
  const doubled = workflow('run-waiting.doubled', async () => 42);
  const log = (requests: CreateEventRequest[]): WorldEvent[] =>
    requests.map((request, index) => ({
      ...request,
      runId: 'run-1',
      seq: index + 1,
      eventId: `evt_${index + 1}`,
      createdAt: 1000 + index,
    })) as WorldEvent[];
  const start: CreateEventRequest = { eventType: 'run_created', eventData: { workflowName: 'run-waiting.doubled' } };

  it('skips run_waiting: a log with notes replays to the same verdict as one without', async () => {
    const plain = await replayEvents(doubled, log([start, { eventType: 'run_started' }]));
    const noted = await replayEvents(
      doubled,
      log([start, waiting('first worker'), waiting('second worker'), { eventType: 'run_started' }]),
    );
    expect(plain).toEqual({ status: 'completed', output: 42 });
    expect(noted).toEqual(plain);
    expect(await replayEvents(doubled, log([start, waiting('only a note')]))).toEqual(plain);
  });
});
