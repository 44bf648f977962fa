import { RunDraft, type RunEntityReader, type StreamChunk } from '@cairn/core/world';
import { chunkRecord, type JournalRecord, RunRecord, type StoredMessage, type StreamRecord } from './local-records.js';

const streamKey = (runId: string, stream: string) => `${runId}\u0000${stream}`;
const idempotencyIndexKey = (topic: string, key: string) => `${topic}\u0000${key}`;

/** The whole World in memory. Only the commit loop mutates it, through `apply`. */
export class LocalState {
  readonly runs = new Map<string, RunRecord>();
  /** Creation order; runs are never removed, so positions make stable cursors. */
  readonly runOrder: RunRecord[] = [];
  readonly tokens = new Map<string, { runId: string; hookId: string }>();
  readonly messages = new Map<string, StoredMessage>();
  readonly idempotencyIndex = new Map<string, string>();
  readonly streams = new Map<string, StreamRecord>();

  /** A draft over the run as it stands; `commitDraft` makes it part of the state. */
  draftFor(runId: string): RunDraft {
    const record = this.runs.get(runId);
    if (record) return new RunDraft(runId, record.run, record);
    const nothingYet: RunEntityReader = {
      step: () => undefined,
      hook: () => undefined,
      wait: () => undefined,
      tokenHolder: (token) => this.tokens.get(token),
      deliveryHolder: () => undefined,
      activeHooks: () => [],
    };
    return new RunDraft(runId, undefined, nothingYet);
  }

  commitDraft(draft: RunDraft): void {
    if (!draft.run) return;
    let record = this.runs.get(draft.runId);
    if (!record) {
      record = new RunRecord(draft.run, this.tokens);
      this.runs.set(draft.runId, record);
      this.runOrder.push(record);
    } else {
      record.run = draft.run;
    }
    for (const event of draft.events) record.addEvent(event);
    for (const [id, step] of draft.steps) record.steps.set(id, step);
    for (const [id, wait] of draft.waits) record.waits.set(id, wait);
    for (const hook of draft.hooks.values()) record.trackHook(hook);
    for (const token of draft.releasedTokens) this.tokens.delete(token);
    for (const [token, holder] of draft.claimedTokens) this.tokens.set(token, holder);
  }

  /** Re-applies a journalled record; the live path produced it, so rule failures mean damage. */
  replay(record: JournalRecord): void {
    switch (record.type) {
      case 'events': {
        const draft = this.draftFor(record.runId);
        for (const event of record.events) {
          const { runId: _runId, seq, eventId, createdAt, ...request } = event;
          draft.apply(request as Parameters<RunDraft['apply']>[0], { seq, eventId, createdAt });
        }
        this.commitDraft(draft);
        return;
      }
      case 'message':
        this.addMessage(record.message);
        return;
      case 'ack':
        this.ackMessage(record.messageId, record.at);
        return;
      case 'retry':
        this.retryMessage(record.messageId, record.attempt, record.deliverAt);
        return;
      case 'chunk': {
        const data =
          record.base64 === undefined ? (record.text ?? '') : new Uint8Array(Buffer.from(record.base64, 'base64'));
        this.appendChunk(
          record.runId,
          record.stream,
          { index: record.index, data, createdAt: record.createdAt },
          record.key,
        );
        return;
      }
      case 'stream_closed':
        this.closeStream(record.runId, record.stream, record.at);
        return;
      case 'run': {
        const restored = new RunRecord(record.run, this.tokens);
        this.runs.set(record.run.runId, restored);
        this.runOrder.push(restored);
        return;
      }
      case 'run_event':
        this.restoredRun(record.runId).addEvent(record.event);
        return;
      case 'step':
        this.restoredRun(record.runId).steps.set(record.step.stepId, record.step);
        return;
      case 'hook':
        this.restoredRun(record.runId).trackHook(record.hook);
        // Only a live hook holds its token; a disposed one (or one of an ended run) has released it.
        if (record.hook.status === 'active') {
          this.tokens.set(record.hook.token, { runId: record.runId, hookId: record.hook.hookId });
        }
        return;
      case 'wait':
        this.restoredRun(record.runId).waits.set(record.wait.waitId, record.wait);
        return;
    }
  }

  private restoredRun(runId: string): RunRecord {
    const record = this.runs.get(runId);
    if (!record) throw new Error(`the snapshot restores an entity of run ${runId} before the run itself`);
    return record;
  }

  addMessage(message: StoredMessage): void {
    this.messages.set(message.messageId, message);
    if (message.idempotencyKey !== undefined) {
      this.idempotencyIndex.set(idempotencyIndexKey(message.topic, message.idempotencyKey), message.messageId);
    }
  }

  findByIdempotencyKey(topic: string, key: string, now: number, retentionMs: number): StoredMessage | undefined {
    const messageId = this.idempotencyIndex.get(idempotencyIndexKey(topic, key));
    const message = messageId === undefined ? undefined : this.messages.get(messageId);
    if (!message || (message.ackedAt !== undefined && now - message.ackedAt > retentionMs)) return undefined;
    return message;
  }

  ackMessage(messageId: string, at: number): void {
    const message = this.messages.get(messageId);
    if (!message) return;
    if (message.idempotencyKey === undefined) this.messages.delete(messageId);
    else message.ackedAt = at;
  }

  retryMessage(messageId: string, attempt: number, deliverAt: number): void {
    const message = this.messages.get(messageId);
    if (message) Object.assign(message, { attempt, deliverAt });
  }

  /** Forgets acknowledged messages whose idempotency window has passed. */
  pruneMessages(now: number, retentionMs: number): void {
    for (const [messageId, message] of this.messages) {
      if (message.ackedAt === undefined || now - message.ackedAt <= retentionMs) continue;
      this.messages.delete(messageId);
      const key = idempotencyIndexKey(message.topic, message.idempotencyKey!);
      if (this.idempotencyIndex.get(key) === messageId) this.idempotencyIndex.delete(key);
    }
  }

  stream(runId: string, name: string): StreamRecord | undefined {
    return this.streams.get(streamKey(runId, name));
  }

  private ensureStream(runId: string, name: string, at: number): StreamRecord {
    let stream = this.stream(runId, name);
    if (!stream) {
      stream = { name, chunks: [], keys: new Map(), closed: false, createdAt: at, updatedAt: at };
      this.streams.set(streamKey(runId, name), stream);
      this.runs.get(runId)?.streams.set(name, stream);
    }
    return stream;
  }

  appendChunk(runId: string, name: string, chunk: StreamChunk, key?: string): void {
    const stream = this.ensureStream(runId, name, chunk.createdAt);
    stream.chunks.push(chunk);
    if (key !== undefined) stream.keys.set(key, chunk.index);
    stream.updatedAt = chunk.createdAt;
  }

  closeStream(runId: string, name: string, at: number): void {
    const stream = this.ensureStream(runId, name, at);
    stream.closed = true;
    stream.updatedAt = at;
  }

  /**
   * The state as journal records: what a checkpoint writes. Runs come as their
   * materialised entities (in creation order, which keeps list cursors stable), one small
   * record per entity, so the snapshot can be written a frame at a time.
   */
  *toRecords(): Generator<JournalRecord> {
    for (const record of this.runOrder) {
      const { runId } = record.run;
      yield { type: 'run', run: record.run };
      for (const event of record.events) yield { type: 'run_event', runId, event };
      for (const step of record.steps.values()) yield { type: 'step', runId, step };
      for (const hook of record.hooks.values()) yield { type: 'hook', runId, hook };
      for (const wait of record.waits.values()) yield { type: 'wait', runId, wait };
    }
    for (const message of this.messages.values()) yield { type: 'message', message };
    for (const [key, stream] of this.streams) {
      const runId = key.slice(0, key.indexOf('\u0000'));
      const keyOf = new Map([...stream.keys].map(([key, index]) => [index, key]));
      for (const chunk of stream.chunks) yield chunkRecord(runId, stream.name, chunk, keyOf.get(chunk.index));
      if (stream.closed) yield { type: 'stream_closed', runId, stream: stream.name, at: stream.updatedAt };
    }
  }
}
