import { randomBytes } from 'node:crypto';
import { type FileHandle, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { WorldCorruptedError } from '@cairn/core/world';
import { crc32 } from './crc32.js';

/*
 * On-disk framing. The journal is a sequence of groups; a group is what one write+fsync
 * committed:
 *
 *   [magic u32 LE][payload length u32 LE][crc32 of payload u32 LE][payload: JSON array of records]
 *
 * The magic's first two bytes (0xC4 0x1E) cannot occur in UTF-8 text, so no JSON payload
 * can contain a header, and a zero-filled tail (a file extended but never written) is
 * never mistaken for a group. A group is written only after the previous one is fsync'd,
 * so only the last group can be torn by a crash: an invalid group with no valid group after
 * it is a torn tail and is cut off; an invalid group followed by a valid one is damage a
 * crash cannot explain, and opening fails rather than silently dropping committed data.
 */
const magic = 0x9b4a1ec4;
const headerBytes = 12;

function frame(records: readonly unknown[]): Buffer {
  const payload = Buffer.from(JSON.stringify(records), 'utf8');
  const header = Buffer.alloc(headerBytes);
  header.writeUInt32LE(magic, 0);
  header.writeUInt32LE(payload.length, 4);
  header.writeUInt32LE(crc32(payload), 8);
  return Buffer.concat([header, payload]);
}

/** The group at `offset`, or undefined when the bytes there are not a whole, valid group. */
function groupAt(bytes: Buffer, offset: number): { records: unknown[]; end: number } | undefined {
  if (bytes.length - offset < headerBytes || bytes.readUInt32LE(offset) !== magic) return undefined;
  const length = bytes.readUInt32LE(offset + 4);
  const end = offset + headerBytes + length;
  if (length === 0 || end > bytes.length) return undefined;
  const payload = bytes.subarray(offset + headerBytes, end);
  if (crc32(payload) !== bytes.readUInt32LE(offset + 8)) return undefined;
  try {
    const records: unknown = JSON.parse(payload.toString('utf8'));
    return Array.isArray(records) ? { records, end } : undefined;
  } catch {
    return undefined;
  }
}

function validGroupAfter(bytes: Buffer, from: number): number | undefined {
  const needle = Buffer.alloc(4);
  needle.writeUInt32LE(magic, 0);
  for (let at = bytes.indexOf(needle, from); at !== -1; at = bytes.indexOf(needle, at + 1)) {
    if (groupAt(bytes, at)) return at;
  }
  return undefined;
}

export interface ReadFramedResult {
  groups: unknown[][];
  /** Byte length of the valid prefix. */
  validBytes: number;
  /** Bytes of torn tail found after it (already cut off when read through `JournalFile.open`). */
  tornBytes: number;
}

export function parseFramed(bytes: Buffer, location: string): ReadFramedResult {
  const groups: unknown[][] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const group = groupAt(bytes, offset);
    if (!group) {
      const later = validGroupAfter(bytes, offset + 1);
      if (later !== undefined) {
        throw new WorldCorruptedError({
          location,
          detail: `invalid group at byte ${offset} is followed by a valid group at byte ${later}; this is not a torn tail`,
        });
      }
      return { groups, validBytes: offset, tornBytes: bytes.length - offset };
    }
    groups.push(group.records);
    offset = group.end;
  }
  return { groups, validBytes: offset, tornBytes: 0 };
}

/** fsync a directory so a create, rename or unlink inside it survives a crash. */
export async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** An append-only, fsync'd journal file. One writer; the caller serialises `append` calls. */
export class JournalFile {
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    private size: number,
  ) {}

  /** Opens (creating if absent), cuts off a torn tail, and returns every committed group. */
  static async open(path: string): Promise<{ file: JournalFile; groups: unknown[][]; tornBytes: number }> {
    let bytes: Buffer;
    let created = false;
    try {
      bytes = await readFile(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      bytes = Buffer.alloc(0);
      created = true;
    }
    const { groups, validBytes, tornBytes } = parseFramed(bytes, path);
    const handle = await open(path, created ? 'a+' : 'r+');
    if (tornBytes > 0) {
      await handle.truncate(validBytes);
      await handle.sync();
    }
    if (created) await syncDirectory(dirname(path));
    return { file: new JournalFile(path, handle, validBytes), groups, tornBytes };
  }

  get byteLength(): number {
    return this.size;
  }

  /** Writes one group and fsyncs it. Resolves only once the group is durable. */
  async append(records: readonly unknown[]): Promise<void> {
    const bytes = frame(records);
    let written = 0;
    while (written < bytes.length) {
      const { bytesWritten } = await this.handle.write(bytes, written, bytes.length - written, this.size + written);
      written += bytesWritten;
    }
    await this.handle.datasync();
    this.size += bytes.length;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/**
 * Writes `records` as one framed group to `path` atomically: a temp file in the same
 * directory, fsync'd, renamed over the target, then the directory fsync'd. A reader sees
 * the old file or the new one, never a mix.
 */
export async function writeFramedAtomically(path: string, records: readonly unknown[]): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temporary, 'w');
  try {
    await handle.writeFile(frame(records));
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => {});
    throw error;
  }
  await syncDirectory(dirname(path));
}
