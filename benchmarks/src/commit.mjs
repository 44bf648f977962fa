// Which Cairn a benchmark run measured. The runner records it in the results' `meta.commit`
// whichever way it was started (`npm run bench`, or `run.mjs` directly with filters), so a
// committed report always names the code behind its numbers.
import { execFileSync } from 'node:child_process';

/**
 * The short hash of the checkout at `directory`, with `-dirty` when tracked files differ from
 * it (the numbers then belong to no commit), or null outside a git checkout.
 */
export function checkoutCommit(directory) {
  const git = (...args) => execFileSync('git', args, { cwd: directory, encoding: 'utf8', stdio: 'pipe' }).trim();
  try {
    const hash = git('rev-parse', '--short', 'HEAD');
    const changed = git('status', '--porcelain', '--untracked-files=no') !== '';
    return changed ? `${hash}-dirty` : hash;
  } catch {
    return null;
  }
}
