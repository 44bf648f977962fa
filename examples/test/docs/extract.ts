import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** One fenced TypeScript block of a Markdown file, with the marker comment above it. */
export interface CodeBlock {
  /** `README.md:12`: the file relative to the repo root, and the line of the opening fence. */
  id: string;
  file: string;
  line: number;
  code: string;
  /** `<!-- doc-test: prelude=name -->`: the fixture prepended to the block. */
  prelude?: string;
  /**
   * `<!-- doc-test: signal=SIGTERM -->`: a long-running program (a worker process). The test
   * sends it this signal once it has printed its last `// prints:` text, and expects it to
   * shut down cleanly.
   */
  signal?: NodeJS.Signals;
  /** `<!-- not-run: reason -->`: the block is shown, not run. */
  notRun?: string;
}

/** README.md, every Markdown file in docs/, and every package's README. */
export function documentationFiles(root: string): string[] {
  const inDirectory = (directory: string) =>
    existsSync(join(root, directory))
      ? readdirSync(join(root, directory))
          .filter((name) => name.endsWith('.md'))
          .sort()
          .map((name) => join(directory, name))
      : [];
  const packageReadmes = readdirSync(join(root, 'packages'))
    .sort()
    .map((name) => join('packages', name, 'README.md'))
    .filter((file) => existsSync(join(root, file)));
  return ['README.md', ...inDirectory('docs'), ...packageReadmes];
}

const fence = /^```([\w-]*)\s*$/;
const docTestMarker = /^<!--\s*doc-test:\s*(.*?)\s*-->$/;
const notRunMarker = /^<!--\s*not-run:\s*(.*?)\s*-->$/;

/** Every ```ts (or ```typescript) block of one file. Other languages are not code to run. */
export function extractBlocks(root: string, file: string): CodeBlock[] {
  const lines = readFileSync(join(root, file), 'utf8').split('\n');
  const blocks: CodeBlock[] = [];
  for (let index = 0; index < lines.length; index++) {
    const opening = fence.exec(lines[index]!);
    if (!opening) continue;
    const language = opening[1];
    const start = index;
    const body: string[] = [];
    for (index += 1; index < lines.length && !/^```\s*$/.test(lines[index]!); index++) body.push(lines[index]!);
    if (index >= lines.length) throw new Error(`${file}:${start + 1}: a code block is never closed`);
    if (language !== 'ts' && language !== 'typescript') continue;
    let above = start - 1;
    while (above >= 0 && lines[above]!.trim() === '') above -= 1;
    const marker = above >= 0 ? lines[above]!.trim() : '';
    const block: CodeBlock = { id: `${relative('', file)}:${start + 1}`, file, line: start + 1, code: body.join('\n') };
    const notRun = notRunMarker.exec(marker);
    if (notRun) block.notRun = notRun[1];
    const docTest = docTestMarker.exec(marker);
    if (docTest) {
      for (const option of docTest[1]!.split(/\s+/)) {
        const [key, value] = option.split('=');
        if (key === 'prelude' && value) block.prelude = value;
        else if (key === 'signal' && (value === 'SIGTERM' || value === 'SIGINT')) block.signal = value;
        else throw new Error(`${block.id}: unknown doc-test option "${option}"`);
      }
    }
    blocks.push(block);
  }
  return blocks;
}

/**
 * What a block says it prints: the text after `// prints:` on a `console.log` line, in order.
 * The test checks each appears in the block's output.
 */
export function expectedOutput(code: string): string[] {
  return code
    .split('\n')
    .filter((line) => line.includes('console.log('))
    .map((line) => /\/\/ prints: (.*)$/.exec(line)?.[1]?.trim())
    .filter((text): text is string => text !== undefined);
}
