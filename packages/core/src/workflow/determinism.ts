import nodeCrypto from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { currentReplay } from './context.js';
import type { WorkflowReplay } from './replay.js';

/*
 * Inside a workflow, Date.now(), new Date(), performance.now(), process.hrtime() (and
 * .bigint()), Math.random(), crypto.randomUUID(), crypto.getRandomValues(),
 * crypto.randomBytes() and crypto.randomFillSync() must give the same answers on every
 * replay. The globals are wrapped once per process: outside a workflow context the wrappers
 * call the originals unchanged; inside they answer from the replay (time = createdAt of the
 * event being consumed, randomness seeded by the run id). The wrappers are installed when a
 * worker or client is created, not on import.
 */
let installed = false;

export function installDeterminism(): void {
  if (installed) return;
  installed = true;

  const OriginalDate = Date;
  const originalNow = Date.now.bind(Date);
  function DeterministicDate(this: unknown, ...args: unknown[]) {
    const replay = currentReplay();
    if (!new.target) return new OriginalDate(replay ? replay.now() : originalNow()).toString();
    if (args.length === 0) return new OriginalDate(replay ? replay.now() : originalNow());
    return new (OriginalDate as unknown as new (...values: unknown[]) => Date)(...args);
  }
  // Same prototype, so `instanceof Date` holds for dates made before and after the swap.
  DeterministicDate.prototype = OriginalDate.prototype;
  Object.defineProperties(DeterministicDate, {
    now: { value: () => currentReplay()?.now() ?? originalNow(), writable: true, configurable: true },
    parse: { value: OriginalDate.parse, writable: true, configurable: true },
    UTC: { value: OriginalDate.UTC, writable: true, configurable: true },
  });
  globalThis.Date = DeterministicDate as unknown as DateConstructor;

  const originalRandom = Math.random;
  Math.random = () => currentReplay()?.random() ?? originalRandom();

  const originalRandomUUID = nodeCrypto.randomUUID;
  const deterministicUUID = ((options?: nodeCrypto.RandomUUIDOptions) =>
    currentReplay()?.uuid() ?? originalRandomUUID(options)) as typeof nodeCrypto.randomUUID;
  nodeCrypto.randomUUID = deterministicUUID;
  syncBuiltinESMExports();
  installRandomBytes();
  const webCrypto = globalThis.crypto;
  if (webCrypto) {
    const originalWebUUID = webCrypto.randomUUID.bind(webCrypto);
    Object.defineProperty(webCrypto, 'randomUUID', {
      value: () => currentReplay()?.uuid() ?? originalWebUUID(),
      configurable: true,
      writable: true,
    });
  }
  installClocks();
}

/** Overwrites a buffer's bytes from the run's seeded stream: 4 bytes per draw, which is exact for sfc32. */
function fillFromReplay(replay: WorkflowReplay, view: ArrayBufferView): void {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  for (let index = 0; index < bytes.length; index += 4) {
    let word = Math.floor(replay.random() * 4294967296);
    for (let offset = index; offset < Math.min(index + 4, bytes.length); offset++) {
      bytes[offset] = word & 0xff;
      word >>>= 8;
    }
  }
}

function installRandomBytes(): void {
  // Each wrapper lets the original validate its arguments (and throw exactly as it would),
  // then replaces the bytes inside a workflow.
  type Fill = (view: ArrayBufferView) => ArrayBufferView;
  const originalRandomFillSync = nodeCrypto.randomFillSync as unknown as (
    view: ArrayBufferView,
    offset?: number,
    size?: number,
  ) => ArrayBufferView;
  nodeCrypto.randomFillSync = ((view: ArrayBufferView, ...rest: [number?, number?]) => {
    const result = originalRandomFillSync(view, ...rest);
    const replay = currentReplay();
    if (!replay) return result;
    const offset = rest[0] ?? 0;
    const bytesPerElement = view instanceof DataView ? 1 : ((view as Uint8Array).BYTES_PER_ELEMENT ?? 1);
    const start = offset * bytesPerElement;
    const length = rest[1] === undefined ? view.byteLength - start : rest[1] * bytesPerElement;
    fillFromReplay(replay, new Uint8Array(view.buffer, view.byteOffset + start, length));
    return result;
  }) as unknown as typeof nodeCrypto.randomFillSync;
  const originalRandomBytes = nodeCrypto.randomBytes;
  nodeCrypto.randomBytes = ((size: number, callback?: (error: Error | null, buffer: Buffer) => void) => {
    const replay = currentReplay();
    if (!replay) return callback ? originalRandomBytes(size, callback) : originalRandomBytes(size);
    const buffer = originalRandomBytes(size);
    fillFromReplay(replay, buffer);
    if (!callback) return buffer;
    queueMicrotask(() => callback(null, buffer));
    return undefined;
  }) as typeof nodeCrypto.randomBytes;
  syncBuiltinESMExports();
  // node:crypto's getRandomValues is a fixed getter that calls this instance's method, so
  // patching the instance covers both.
  const webCrypto = globalThis.crypto;
  if (webCrypto) {
    const originalWebGetRandomValues = webCrypto.getRandomValues.bind(webCrypto) as unknown as Fill;
    Object.defineProperty(webCrypto, 'getRandomValues', {
      value: (view: ArrayBufferView) => {
        const result = originalWebGetRandomValues(view);
        const replay = currentReplay();
        if (replay) fillFromReplay(replay, result);
        return result;
      },
      configurable: true,
      writable: true,
    });
  }
}

/** Whole and fractional milliseconds as nanoseconds, exactly: `ms * 1e6` as a double would lose digits. */
function toNanoseconds(ms: number): bigint {
  const whole = Math.floor(ms);
  return BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1_000_000));
}

function installClocks(): void {
  // Inside a workflow the monotonic clocks read the replayed time, with the Unix epoch as
  // their origin: the same value in every replay, and never decreasing, since event times
  // never decrease along a log. Differences between two readings measure replayed time.
  const originalPerformanceNow = performance.now.bind(performance);
  Object.defineProperty(performance, 'now', {
    value: () => {
      const replay = currentReplay();
      return replay ? replay.now() : originalPerformanceNow();
    },
    configurable: true,
    writable: true,
  });
  const originalHrtime = process.hrtime;
  const originalBigint = process.hrtime.bigint.bind(process.hrtime);
  const hrtime = ((previous?: [number, number]) => {
    const replay = currentReplay();
    if (!replay) return originalHrtime(previous);
    let elapsed = toNanoseconds(replay.now());
    if (previous) elapsed -= BigInt(previous[0]) * 1_000_000_000n + BigInt(previous[1]);
    return [Number(elapsed / 1_000_000_000n), Number(elapsed % 1_000_000_000n)];
  }) as typeof process.hrtime;
  hrtime.bigint = () => {
    const replay = currentReplay();
    return replay ? toNanoseconds(replay.now()) : originalBigint();
  };
  process.hrtime = hrtime;
}

/** A small, fast PRNG (sfc32) seeded from a string, so a run's random stream is its own. */
export function seededRandom(seed: string): () => number {
  let a = 0x9e3779b9;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = 0x12345678;
  for (let index = 0; index < seed.length; index++) {
    const code = seed.charCodeAt(index);
    a = Math.imul(a ^ code, 0x85ebca6b);
    b = Math.imul(b ^ a, 0xc2b2ae35);
    c = Math.imul(c ^ b, 0x27d4eb2f);
    d = Math.imul(d ^ c, 0x165667b1);
  }
  const next = () => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let index = 0; index < 16; index++) next();
  return next;
}

/** A version 4 UUID drawn from `random` (a run's seeded stream), so every replay draws the same one. */
export function seededUuid(random: () => number): string {
  const bytes = Array.from({ length: 16 }, () => Math.floor(random() * 256));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.map((byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
