// The remote control every benchmarked system sits behind, Cairn included.
//
// Each system runs in its own child process (its own dependency tree, and for Restate its
// own Node version), so a driver is a small script that calls `runDriver` with an adapter.
// The runner owns every measurement policy (warm-up, repetitions, the PostgreSQL WAL
// bracket for commit counts); a driver only executes one operation per command and says
// how long it took. Node built-ins only: peers import this file by relative path.
//
// Protocol, one JSON object per line:
//   driver -> runner, once after setup: {"type":"ready","system":..., "version":..., "operations":[...]}
//   runner -> driver: {"id":1,"op":"sequential","params":{"steps":10,"payloadBytes":0}}
//   driver -> runner: {"type":"reply","id":1,"ok":true,"elapsedMs":12.3,"value":10}
//                  or {"type":"reply","id":1,"ok":false,"unsupported":true,"error":"..."}
//   runner -> driver: {"id":9,"op":"close"}  (the driver closes the system and exits)
// Anything a driver wants to log goes to stderr; stdout carries only protocol lines.
//
// Operations (params -> value). `elapsedMs` is measured here around the adapter call, so
// for the first four it is the sample: from starting the workflow to having its result.
//   sequential {steps, payloadBytes}      -> steps completed (number). Each step takes and
//                                            returns a string of payloadBytes (0: no payload).
//   concurrent {steps, payloadBytes, mode} -> mode 'all': results received (= steps);
//                                            mode 'race': 1 (Promise.race over the steps).
//   map {items, maxConcurrency}           -> items processed (= items), never more than
//                                            maxConcurrency in flight.
//   many {workflows, steps}               -> runs completed (= workflows), all started at once,
//                                            each running `steps` sequential steps.
//   hookResume {}                          -> {resumeToResultMs}: the workflow is waiting on a
//                                            hook/signal/awakeable; from the resume call to the
//                                            workflow's result.
//   streamFirstChunk {}                    -> {firstChunkMs}: from starting a workflow whose
//                                            step writes one chunk to a stream, to a reader
//                                            receiving it.
//   streamThroughput {totalBytes, chunkBytes} -> {bytes}: from start until the reader has
//                                            every byte; elapsedMs is the sample.
//   stepTimestamps {steps}                 -> {timestamps}: a workflow of `steps` sequential
//                                            no-op steps, each recording
//                                            performance.timeOrigin + performance.now() when its
//                                            body runs (first execution).
import { createInterface } from 'node:readline';

/** The epoch-milliseconds clock every driver uses inside step bodies, with sub-ms precision. */
export const preciseNow = () => performance.timeOrigin + performance.now();

/** A deterministic string of `bytes` characters (ASCII, so characters = bytes). */
export const payloadOf = (bytes, seed = 0) => {
  if (bytes <= 0) return '';
  const unit = `cairn-bench-${seed}-`;
  return unit.repeat(Math.ceil(bytes / unit.length)).slice(0, bytes);
};

/** What the runner passes to a driver, in the BENCH_DRIVER_OPTIONS environment variable. */
export function driverOptions() {
  const raw = process.env.BENCH_DRIVER_OPTIONS;
  if (!raw) throw new Error('BENCH_DRIVER_OPTIONS is not set: drivers are started by benchmarks/src/run.mjs');
  // { databaseUrl?: string, dataDir: string, variant?: string }
  return JSON.parse(raw);
}

const send = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

/**
 * Serves the protocol until `close`.
 * @param {(options: {databaseUrl?: string, dataDir: string, variant?: string}) => Promise<{
 *   system: string, version: string, operations: Record<string, (params: object) => Promise<unknown>>,
 *   close(): Promise<void>
 * }>} createAdapter
 */
export async function runDriver(createAdapter) {
  // Keep stray console.log output of a peer's library off the protocol channel.
  console.log = (...args) => console.error(...args);
  console.info = (...args) => console.error(...args);
  const adapter = await createAdapter(driverOptions());
  send({
    type: 'ready',
    system: adapter.system,
    version: adapter.version,
    operations: Object.keys(adapter.operations),
  });
  const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const { id, op, params = {} } = JSON.parse(line);
    if (op === 'close') {
      await adapter.close();
      send({ type: 'reply', id, ok: true, elapsedMs: 0, value: null });
      break;
    }
    const operation = adapter.operations[op];
    if (!operation) {
      send({ type: 'reply', id, ok: false, unsupported: true, error: `${adapter.system} has no '${op}' operation` });
      continue;
    }
    try {
      const started = performance.now();
      const value = await operation(params);
      const elapsedMs = performance.now() - started;
      send({ type: 'reply', id, ok: true, elapsedMs, value: value ?? null });
    } catch (error) {
      send({
        type: 'reply',
        id,
        ok: false,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
    }
  }
  lines.close();
  // Some peers keep timers or pools alive after close; the runner has what it needs.
  process.exit(0);
}
