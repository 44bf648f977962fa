import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { WorldCorruptedError } from '@cairn/core/world';
import { crc32 } from './crc32.js';
import { fileSystem } from './file-system.js';

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
const openBracket = Buffer.from('[');
const comma = Buffer.from(',');
const closeBracket = Buffer.from(']');

/** One record as the UTF-8 JSON it is framed as. */
export function encodeRecord(record: unknown): Buffer {
  return Buffer.from(JSON.stringify(record), 'utf8');
}

/**
 * Frames already-encoded records as one group, as pieces to write in order. The records
 * are never joined into one string: a group may be larger than the longest string V8 can
 * hold, and the caller caps the group's bytes, not its string length.
 */
export function frame(records: readonly Buffer[]): Buffer[] {
  const pieces: Buffer[] = [openBracket];
  records.forEach((record, index) => {
    if (index > 0) pieces.push(comma);
    pieces.push(record);
  });
  pieces.push(closeBracket);
  let length = 0;
  let checksum = 0;
  for (const piece of pieces) {
    length += piece.length;
    checksum = crc32(piece, checksum);
  }
  const header = Buffer.alloc(headerBytes);
  header.writeUInt32LE(magic, 0);
  header.writeUInt32LE(length, 4);
  header.writeUInt32LE(checksum, 8);
  return [header, ...pieces];
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
  const handle = await fileSystem.open(path, 'r');
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
      bytes = await fileSystem.readFile(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      bytes = Buffer.alloc(0);
      created = true;
    }
    const { groups, validBytes, tornBytes } = parseFramed(bytes, path);
    const handle = await fileSystem.open(path, created ? 'a+' : 'r+');
    try {
      if (tornBytes > 0) {
        await handle.truncate(validBytes);
        await handle.sync();
      }
      if (created) await syncDirectory(dirname(path));
    } catch (error) {
      await handle.close().catch(() => {});
      throw error;
    }
    return { file: new JournalFile(path, handle, validBytes), groups, tornBytes };
  }

  get byteLength(): number {
    return this.size;
  }

  /**
   * Writes one group of encoded records and fsyncs it. Resolves only once the group is
   * durable. Fails if the file was deleted meanwhile (its directory removed under a running
   * World): the bytes would reach an inode no open will ever read.
   */
  async append(records: readonly Buffer[]): Promise<void> {
    const bytes = Buffer.concat(frame(records));
    let written = 0;
    while (written < bytes.length) {
      const { bytesWritten } = await this.handle.write(bytes, written, bytes.length - written, this.size + written);
      written += bytesWritten;
    }
    await this.handle.datasync();
    this.size += bytes.length;
    const { nlink } = await this.handle.stat();
    if (nlink === 0) throw new Error(`the journal ${this.path} was deleted while open`);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/**
 * Writes `records` to a new file at `path` as groups of about `maxGroupBytes` each,
 * encoding one record at a time, so a state larger than any single string can be written,
 * then fsyncs it. On any failure the partial file is deleted before the error is rethrown:
 * a failed write leaves nothing behind to fill the disk.
 */
export async function writeFramedFile(path: string, records: Iterable<unknown>, maxGroupBytes: number): Promise<void> {
  const handle = await fileSystem.open(path, 'wx');
  let complete = false;
  try {
    let position = 0;
    let group: Buffer[] = [];
    let groupBytes = 0;
    const flushGroup = async () => {
      if (group.length === 0) return;
      for (const piece of frame(group)) {
        let written = 0;
        while (written < piece.length) {
          const { bytesWritten } = await handle.write(piece, written, piece.length - written, position);
          written += bytesWritten;
          position += bytesWritten;
        }
      }
      group = [];
      groupBytes = 0;
    };
    for (const record of records) {
      const encoded = encodeRecord(record);
      group.push(encoded);
      groupBytes += encoded.length;
      if (groupBytes >= maxGroupBytes) await flushGroup();
    }
    await flushGroup();
    await handle.sync();
    complete = true;
  } finally {
    await handle.close().catch(() => {});
    if (!complete) await fileSystem.unlink(path).catch(() => {});
  }
}
