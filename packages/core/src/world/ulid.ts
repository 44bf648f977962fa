import { randomFillSync } from 'node:crypto';

/** Crockford's base32: no I, L, O or U, so an id reads back unambiguously. */
const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const timeLength = 10;
const randomLength = 16;
/** 256 ids' worth of random characters, one byte each (only the low 5 bits are used). */
const poolSize = randomLength * 256;
const randomPool = Buffer.allocUnsafe(poolSize);
let poolOffset = poolSize;

/**
 * A new ULID: 10 characters of millisecond time, then 16 random ones (80 bits), so ids
 * sort by creation time across processes and never collide in practice.
 *
 * The random characters come from a pool that the operating system's CSPRNG refills 256
 * ids at a time. Asking it once per character, as general-purpose ULID libraries do, is a
 * system call each; on the virtual machines Cairn runs on that made one id cost about
 * 0.1 ms of CPU, and every run creates several.
 *
 * @param now the time to encode, in milliseconds since the epoch; defaults to `Date.now()`.
 * @throws RangeError if `now` is not a whole number of milliseconds between 0 and 2^48 - 1.
 */
export function ulid(now: number = Date.now()): string {
  if (!Number.isInteger(now) || now < 0 || now > 0xffff_ffff_ffff) {
    throw new RangeError(`ulid: now must be a whole number of milliseconds from 0 to 2^48 - 1 (got ${now})`);
  }
  let time = '';
  for (let index = 0, rest = now; index < timeLength; index++) {
    time = alphabet[rest % 32]! + time;
    rest = Math.floor(rest / 32);
  }
  if (poolOffset + randomLength > poolSize) {
    randomFillSync(randomPool);
    poolOffset = 0;
  }
  let random = '';
  for (let index = 0; index < randomLength; index++) random += alphabet[randomPool[poolOffset + index]! & 31];
  poolOffset += randomLength;
  return time + random;
}
