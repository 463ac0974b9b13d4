import { readdirSync, readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The hub's storage seam (docs/architecture.md "Storage"): only central/src/storage/ speaks to a
 * database driver or writes SQL for one engine; everything else — the cluster bus included —
 * speaks the contract (sql.ts, notify.ts). The libpq binding is opened in one place
 * (storage/postgres.ts) and declared once.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'dist' ? [] : sources(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}
const norm = (f: string): string => f.split(sep).join('/');

const ENGINE_SQL = /\bpg_notify\b|\bLISTEN\s|\bpg_advisory|\bpg_terminate_backend\b/;

describe('the storage seam', () => {
  it('nothing in the hub outside central/src/storage imports a PostgreSQL driver or writes PostgreSQL-only SQL', () => {
    const found: string[] = [];
    for (const file of sources('central/src')) {
      const name = norm(file);
      if (name.startsWith('central/src/storage/') || name.startsWith('central/src/types/')) continue;
      const text = readFileSync(join(ROOT, file), 'utf8');
      text.split('\n').forEach((line, i) => {
        const comment = /^\s*(\*|\/\/|\/\*)/.test(line);
        if (/from ['"](pg|pg-native)['"]/.test(line) || (!comment && ENGINE_SQL.test(line)))
          found.push(`${name}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(found).toEqual([]);
  });

  it('nothing in the hub outside central/src/storage opens SQLite itself (better-sqlite3)', () => {
    const importers = sources('central/src')
      .filter((file) => /from ['"]better-sqlite3['"]/.test(readFileSync(join(ROOT, file), 'utf8')))
      .map(norm)
      .filter((name) => !name.startsWith('central/src/storage/'));
    expect(importers).toEqual([]);
  });

  it('pg-native is opened only by central/src/storage/postgres.ts and declared once', () => {
    const importers: string[] = [];
    const declarations: string[] = [];
    for (const file of [
      ...sources('central'),
      ...sources('scripts'),
      ...sources('test'),
      ...sources('bench'),
      ...sources('agent'),
      ...sources('shared'),
    ]) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      if (/from ['"]pg-native['"]/.test(text)) importers.push(norm(file));
      if (/declare module ['"]pg-native['"]/.test(text)) declarations.push(norm(file));
    }
    expect(importers).toEqual(['central/src/storage/postgres.ts']);
    expect(declarations).toEqual(['central/src/types/pg-native.d.ts']);
  });
});
