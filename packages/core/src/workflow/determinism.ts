import nodeCrypto from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { currentReplay } from './context.js';

/*
 * Inside a workflow, Date.now(), new Date(), Math.random() and crypto.randomUUID() must
 * give the same answers on every replay. The globals are wrapped once per process: outside
 * a workflow context the wrappers call the originals unchanged; inside they answer from the
 * replay (time = createdAt of the event being consumed, randomness seeded by the run id).
 * The wrappers are installed when a worker or client is created, not on import.
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
  const webCrypto = globalThis.crypto;
  if (webCrypto) {
    const originalWebUUID = webCrypto.randomUUID.bind(webCrypto);
    Object.defineProperty(webCrypto, 'randomUUID', {
      value: () => currentReplay()?.uuid() ?? originalWebUUID(),
      configurable: true,
      writable: true,
    });
  }
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
