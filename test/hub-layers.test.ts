import { readdirSync, readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The hub's layers (docs/architecture.md "Use cases"): HTTP handlers and the agents' sessions
 * call use cases (central/src/usecases/), which own the unit of work. They neither open a
 * transaction, nor touch the database, nor take the whole `Hub` bundle.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

const CALLERS = [
  ...sources('central/src/http'),
  ...sources('central/src/console'),
  'central/src/sync/agent-session.ts',
  'central/src/sync/agent-endpoint.ts',
];

/** What only the use cases and the layers below them may do. */
const FORBIDDEN: [RegExp, string][] = [
  [/\bstorage\.(tx|savepoint|relaxed|db)\b/, 'opens a transaction or touches the database'],
  [/\.prepare\(/, 'writes SQL'],
  [/from '[./]*hub-services\.js'/, 'takes the Hub bundle'],
  [/from '[./]*storage\//, 'imports the storage seam'],
];

describe('the hub layers', () => {
  it('HTTP handlers and agent sessions call use cases: no transactions, SQL or Hub bundle of their own', () => {
    expect(CALLERS.length).toBeGreaterThan(10);
    const found: string[] = [];
    for (const file of CALLERS) {
      readFileSync(join(ROOT, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          for (const [re, what] of FORBIDDEN)
            if (re.test(line)) found.push(`${file.split(sep).join('/')}:${i + 1} ${what}: ${line.trim()}`);
        });
    }
    expect(found).toEqual([]);
  });
});
