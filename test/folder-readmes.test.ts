import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '@tillbridge/scripts/lib/paths';

// Every folder of source or tests says in one line what it is for: a README.md whose first line is
// "# name — what the folder is for" (docs/development.md#folders).
const ROOTS = [
  'shared/src',
  'agent/src',
  'central/src',
  'central/console-ui',
  'shared/test',
  'agent/test',
  'central/test',
  'test',
  'scripts',
  'bench',
];
const SKIPPED = new Set(['node_modules', 'dist', 'fixtures', 'coverage']);

function sourceFolders(dir: string): string[] {
  const entries = readdirSync(dir, { withFileTypes: true });
  const here = entries.some((e) => e.isFile() && e.name.endsWith('.ts')) ? [dir] : [];
  const below = entries
    .filter((e) => e.isDirectory() && !SKIPPED.has(e.name) && !e.name.startsWith('.'))
    .flatMap((e) => sourceFolders(join(dir, e.name)));
  return [...here, ...below];
}

describe('folder READMEs', () => {
  const folders = ROOTS.map((r) => join(ROOT, r))
    .filter((dir) => existsSync(dir))
    .flatMap(sourceFolders);

  it('finds the source folders', () => {
    expect(folders.map((f) => relative(ROOT, f))).toEqual(
      expect.arrayContaining(['agent/src/gateway/codecs', 'test/e2e']),
    );
  });

  it('gives every source and test folder a README.md whose first line says what the folder is for', () => {
    const missing = folders
      .filter((dir) => {
        const readme = join(dir, 'README.md');
        if (!existsSync(readme)) return true;
        const firstLine = readFileSync(readme, 'utf8').split('\n')[0] ?? '';
        return !/^# \S+ — \S.{10,}$/.test(firstLine);
      })
      .map((dir) => relative(ROOT, dir));
    expect(missing, 'folders without a one-line README.md ("# name — what it is for")').toEqual([]);
  });
});
