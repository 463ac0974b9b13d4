import { readdirSync, readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The test files share their worker processes (`isolate: false` in vitest.config.ts,
 * docs/development.md#test-run-time): what one file changes in its process, the next file run there
 * would meet. So no test mocks a module, stubs a global, fakes the timers, writes the environment or
 * changes the working directory; a test that needs another environment gives it to the child process
 * it starts.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SELF = 'test/shared-workers.test.ts';

const LEAKS =
  /\bvi\.(mock|doMock|stubGlobal|stubEnv|useFakeTimers)\(|\bprocess\.env(\.\w+|\[[^\]]+\])\s*(=(?!=)|\?\?=|\|\|=)|\bdelete process\.env\b|\bprocess\.chdir\(|\bObject\.assign\(process\.env\b/;

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'fixtures' || e.name === 'node_modules' ? [] : sources(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

describe('test files that share a process', () => {
  it('leave nothing behind in it: no module mocks, global stubs, fake timers, env writes or chdir', () => {
    const found: string[] = [];
    for (const file of ['shared/test', 'agent/test', 'central/test', 'test'].flatMap(sources)) {
      const name = file.split(sep).join('/');
      if (name === SELF) continue;
      readFileSync(join(ROOT, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (LEAKS.test(line)) found.push(`${name}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(found).toEqual([]);
  });

  it('the check finds each kind', () => {
    for (const line of [
      "vi.mock('node:fs');",
      "vi.stubEnv('TZ', 'UTC');",
      'vi.useFakeTimers();',
      "process.env.TILLBRIDGE_TEST_CLOCK = '2026-01-01T00:00:00Z';",
      "process.env['TZ'] = 'UTC';",
      'process.env.X ??= "1";',
      'delete process.env.TZ;',
      "process.chdir('/');",
      'Object.assign(process.env, extra);',
    ])
      expect(LEAKS.test(line), line).toBe(true);
    for (const line of [
      "const url = process.env.TILLBRIDGE_TEST_PG_URL ?? '';",
      "if (process.env.TILLBRIDGE_TEST_BACKEND === 'postgres') return;",
      'spawn(bin, args, { env: { ...process.env, TZ: "UTC" } });',
    ])
      expect(LEAKS.test(line), line).toBe(false);
  });
});
