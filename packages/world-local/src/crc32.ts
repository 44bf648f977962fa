import * as zlib from 'node:zlib';

// CRC-32 (IEEE 802.3). zlib.crc32 is native and far faster, but only arrived in Node
// 20.15; the table-driven version keeps earlier Node 20 releases able to verify records.
const table = new Uint32Array(256);
for (let index = 0; index < 256; index++) {
  let value = index;
  for (let bit = 0; bit < 8; bit++) value = value & 1 ? 0xedb88320 ^ (value >>> 1) : value >>> 1;
  table[index] = value >>> 0;
}

/** The portable implementation, exported so a test can hold the native one to it. */
export function crc32InJavaScript(bytes: Uint8Array, previous: number): number {
  let crc = (previous ^ 0xffffffff) >>> 0;
  for (let index = 0; index < bytes.length; index++) {
    crc = table[(crc ^ bytes[index]!) & 0xff]! ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

const native = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** The CRC of `bytes`; pass the CRC of the bytes before them as `previous` to continue it. */
export function crc32(bytes: Uint8Array, previous = 0): number {
  return native ? native(bytes, previous) >>> 0 : crc32InJavaScript(bytes, previous);
}
