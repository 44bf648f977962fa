import type { Output } from './output.js';

export interface Progress {
  /** Reports that `done` of `total` (when known) are finished. */
  update(done: number, total?: number): void;
  /** Writes the final line. */
  finish(message: string): void;
}

/**
 * Progress for long operations, on stderr so stdout stays parseable. On a terminal it
 * rewrites one line; elsewhere (CI logs, pipes) it prints a line at most once a second, so a
 * log shows that work is moving without a line per item.
 */
export function createProgress(label: string, output: Output): Progress {
  const stream = output.err as NodeJS.WriteStream;
  const interactive = stream.isTTY === true;
  let lastPrinted = 0;
  let drawn = false;
  return {
    update(done, total) {
      const text = `${label}: ${done}${total === undefined ? '' : `/${total}`}`;
      if (interactive) {
        stream.write(`\r${text}`);
        drawn = true;
        return;
      }
      const now = Date.now();
      if (now - lastPrinted < 1000) return;
      lastPrinted = now;
      stream.write(`${text}\n`);
    },
    finish(message) {
      stream.write(`${interactive && drawn ? '\r\u001b[2K' : ''}${label}: ${message}\n`);
    },
  };
}
