// The documentation and the code comments must stand on their own: no pointers to a design
// document, numbered sections or issue numbers that a reader of the repository (or of the
// published packages) cannot follow.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(fileURLToPath(import.meta.url), '../../..');
const self = relative(root, fileURLToPath(import.meta.url));
const skipped = new Set(['node_modules', 'dist', '.tmp', '.turbo', '.tools', '.git', 'results']);
const checked = /\.(md|ts|mts|cts|mjs|cjs|js)$/;

// Built from parts so this file does not match itself. The design document's name is in
// capitals; "design" as a word is fine.
const designDocument = new RegExp(`${'DESI'}GN(\\.md|\\b)`);
const sectionOrIssue = /\u00a7|\bissue\s+#?\d+/i;

function files(directory: string): string[] {
  return readdirSync(join(root, directory), { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return skipped.has(entry.name) ? [] : files(path);
    return checked.test(entry.name) ? [path] : [];
  });
}

function citations(file: string): string[] {
  return readFileSync(join(root, file), 'utf8')
    .split('\n')
    .flatMap((line, index) =>
      designDocument.test(line) || sectionOrIssue.test(line) ? [`${file}:${index + 1}: ${line.trim()}`] : [],
    );
}

const all = files('.').filter((file) => file !== self);

describe('documentation and comments stand alone', () => {
  it('scans the READMEs, docs and sources', () => {
    expect(all).toContain('README.md');
    expect(all).toContain(join('docs', 'guide.md'));
    expect(all.filter((file) => file.startsWith('packages')).length).toBeGreaterThan(50);
  });

  it('cite no design document, section or issue number', () => {
    const found = all.flatMap(citations);
    expect(found).toEqual([]);
  });
});
