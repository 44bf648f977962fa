import type { World } from '@cairn/core/world';
import { type Client, createClient, createWorker, type Worker, type WorkflowDefinition } from '@cairn/core';

export interface EngineSuiteOptions {
  /** Shown in test titles. */
  name: string;
  /** A fresh, empty World per call. */
  createWorld: () => World | Promise<World>;
}

export interface Harness {
  world: World;
  client: Client;
  /** Workers started so far; all stopped by `close`. */
  workers: Worker[];
  startWorker(options: { workflows: WorkflowDefinition<never, unknown>[]; runLease?: boolean; concurrency?: number }): Promise<Worker>;
  close(): Promise<void>;
}

/** A World, a client and a way to start workers; `close` tears all of it down. */
export async function openHarness(options: EngineSuiteOptions, runLease = true): Promise<Harness> {
  const world = await options.createWorld();
  const client = createClient({ world, runLease });
  const workers: Worker[] = [];
  return {
    world,
    client,
    workers,
    async startWorker({ workflows, runLease: lease = runLease, concurrency }) {
      const worker = createWorker({
        world,
        // biome-ignore lint/suspicious/noExplicitAny: the harness accepts workflows of any shape.
        workflows: workflows as WorkflowDefinition<any, any>[],
        runLease: lease,
        ...(concurrency === undefined ? {} : { concurrency }),
      });
      await worker.start();
      workers.push(worker);
      return worker;
    },
    async close() {
      await Promise.all(workers.map((worker) => worker.stop()));
      await world.close();
    },
  };
}

/** Polls `probe` until it returns a value other than undefined; for conditions with no event to await. */
export async function eventually<Value>(probe: () => Promise<Value | undefined>, timeoutMs: number, what: string): Promise<Value> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A promise with its resolver outside: lets a test release a step body exactly when it wants. */
export function gate<Value = void>() {
  let open!: (value: Value) => void;
  const promise = new Promise<Value>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}
