import { join } from 'node:path';
import { WorldCorruptedError } from '@cairn/core/world';
import { fileSystem } from './file-system.js';
import { JournalFile, parseFramed } from './journal-file.js';

/*
 * A world-local directory holds generations: snapshot N (the whole state when journal N
 * began) and journal N (every group written since). A checkpoint starts generation N+1;
 * local-store.ts writes them, and this file finds the newest one when the World opens.
 */

export const snapshotName = (generation: number) => `snapshot-${generation}.cairn`;
export const journalName = (generation: number) => `journal-${generation}.cairn`;
const generationOf = (file: string) => Number(/^(?:snapshot|journal)-(\d+)\.cairn$/.exec(file)?.[1] ?? Number.NaN);

export interface LoadedGeneration {
  generation: number;
  /** The snapshot's size on disk, 0 when there is none yet. */
  snapshotBytes: number;
  /** The generation's journal, open for appends after the groups it held. */
  journal: JournalFile;
}

/**
 * Opens the newest generation in `directory`: its snapshot's groups, then its journal's,
 * go through `replay` in order. Files that only a checkpoint cut short can leave (a journal
 * with no snapshot, a snapshot never renamed into place) are removed, as are the older
 * generations the snapshot contains. Throws `WorldCorruptedError` for damage a crash cannot
 * explain; the journal is closed again when anything after its opening throws.
 */
export async function loadNewestGeneration(
  directory: string,
  replay: (groups: unknown[][], location: string) => void,
): Promise<LoadedGeneration> {
  const files = await fileSystem.readdir(directory);
  const generations = new Set(files.map(generationOf).filter((value) => Number.isInteger(value)));
  const snapshots = files.filter((file) => file.startsWith('snapshot-')).map(generationOf);
  const generation = snapshots.length > 0 ? Math.max(...snapshots) : 0;
  let snapshotBytes = 0;
  if (snapshots.length > 0) {
    const path = join(directory, snapshotName(generation));
    const bytes = await fileSystem.readFile(path);
    snapshotBytes = bytes.length;
    const { groups, tornBytes } = parseFramed(bytes, path);
    // Snapshots are renamed into place whole, so any damage is real damage.
    if (tornBytes > 0) throw new WorldCorruptedError({ location: path, detail: 'snapshot is incomplete' });
    replay(groups, path);
  }
  // A checkpoint creates the next generation's journal before its snapshot; a crash in
  // between leaves that journal with no snapshot. Nothing was ever written to it (writes
  // move to a journal only after its snapshot is in place), so it is only removed.
  for (const later of generations) {
    if (later <= generation) continue;
    const path = join(directory, journalName(later));
    const bytes = await fileSystem.readFile(path).catch(() => Buffer.alloc(0));
    if (parseFramed(bytes, path).groups.length > 0) {
      throw new WorldCorruptedError({ location: path, detail: 'a journal holds records but its snapshot is missing' });
    }
    await fileSystem.unlink(path).catch(() => {});
  }
  const { file: journal, groups } = await JournalFile.open(join(directory, journalName(generation)));
  try {
    replay(groups, journal.path);
    // A crash or failure mid-checkpoint can leave a temp snapshot that was never renamed into place.
    for (const file of files)
      if (file.startsWith('.snapshot-') && file.endsWith('.tmp')) await fileSystem.unlink(join(directory, file));
    // Earlier generations are fully contained in the snapshot just loaded.
    for (const earlier of generations) {
      if (earlier >= generation) continue;
      await fileSystem.unlink(join(directory, snapshotName(earlier))).catch(() => {});
      await fileSystem.unlink(join(directory, journalName(earlier))).catch(() => {});
    }
  } catch (error) {
    await journal.close().catch(() => {});
    throw error;
  }
  return { generation, snapshotBytes, journal };
}
