import { mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';

/**
 * The file operations the journal and store use, gathered in one object rather than
 * imported one by one, so a test can make any of them fail (EMFILE, ENOSPC, a failed
 * rename) at a chosen step and check that no confirmed write is lost.
 */
export const fileSystem = { mkdir, open, readdir, readFile, rename, stat, unlink };
