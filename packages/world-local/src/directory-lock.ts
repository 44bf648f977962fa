import { randomBytes } from 'node:crypto';
import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { WorldUnavailableError } from '@cairn/core/world';

/*
 * One process owns a directory at a time. world-local keeps its state in memory and
 * appends to one journal; two writers would interleave groups and fork the state, so a
 * second process is refused with a clear error instead of being given a directory it
 * would corrupt.
 *
 * The lock file is created with link(2), which fails if the name exists: atomic on every
 * local filesystem. A lock whose holder is dead (same host, pid gone) is stale, as after
 * a SIGKILL, and is taken over: renamed aside (only one taker can rename it), re-read to
 * confirm it is the stale lock that was judged, then replaced.
 */
const lockFileName = 'cairn.lock';

interface LockOwner {
  pid: number;
  host: string;
  token: string;
  openedAt: string;
}

/** Directories this process holds, so two Worlds in one process are refused too. */
const heldInThisProcess = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readOwner(path: string): Promise<LockOwner | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as LockOwner;
  } catch {
    // Absent, or half-written by a holder that died between create and write; the
    // link-based create below makes the latter impossible, so treat it as absent.
    return undefined;
  }
}

export class DirectoryLock {
  private constructor(
    private readonly directory: string,
    private readonly owner: LockOwner,
  ) {}

  static async acquire(directory: string, worldName: string): Promise<DirectoryLock> {
    const lockPath = join(directory, lockFileName);
    const unavailable = (reason: string) =>
      new WorldUnavailableError({ world: worldName, location: directory, reason });
    if (heldInThisProcess.has(directory)) {
      throw unavailable('the directory is already open in this process; share one World instance');
    }
    const owner: LockOwner = {
      pid: process.pid,
      host: hostname(),
      token: randomBytes(8).toString('hex'),
      openedAt: new Date().toISOString(),
    };
    const candidate = join(directory, `.cairn.lock.${owner.token}`);
    await writeFile(candidate, JSON.stringify(owner), { flush: true });
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          await link(candidate, lockPath);
          heldInThisProcess.add(directory);
          return new DirectoryLock(directory, owner);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
        const holder = await readOwner(lockPath);
        if (holder && holder.host !== owner.host) {
          throw unavailable(
            `it is locked by process ${holder.pid} on host ${holder.host}; a directory may be opened by one process at a time`,
          );
        }
        if (holder && isAlive(holder.pid)) {
          throw unavailable(
            `it is locked by live process ${holder.pid} (opened ${holder.openedAt}); a directory may be opened by one process at a time`,
          );
        }
        await DirectoryLock.removeStale(lockPath, holder);
      }
      throw unavailable('could not take over a stale lock after several attempts');
    } finally {
      await unlink(candidate).catch(() => {});
    }
  }

  private static async removeStale(lockPath: string, judged: LockOwner | undefined): Promise<void> {
    const aside = `${lockPath}.stale.${randomBytes(6).toString('hex')}`;
    try {
      await rename(lockPath, aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // someone else took it aside
      throw error;
    }
    const moved = await readOwner(aside);
    if (moved?.token !== judged?.token) {
      // Another opener replaced the stale lock between our read and our rename: put its
      // live lock back. link fails if yet another lock appeared, which is then the holder.
      await link(aside, lockPath).catch(() => {});
    }
    await unlink(aside).catch(() => {});
  }

  async release(): Promise<void> {
    const lockPath = join(this.directory, lockFileName);
    const current = await readOwner(lockPath);
    if (current?.token === this.owner.token) await unlink(lockPath).catch(() => {});
    heldInThisProcess.delete(this.directory);
  }
}
