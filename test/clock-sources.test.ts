import { readdirSync, readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * Every clock in the agent and the hub is injectable: the time of day comes from the Clock the
 * composition root was given (shared/src/clock.ts), elapsed time from monotonicClock. Nothing
 * else reads the system's time, except where the system's time is what is meant (listed below,
 * with why), and the framers' `nowMs = Date.now()` defaults, which their callers fill in.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));

const SYSTEM_TIME_MEANT: Record<string, string> = {
  'central/src/cli/format.ts': "`ago`: how long ago for the operator, on the operator's machine",
  'central/src/cli/commands/audit.ts': "--since 7d: seven days before the operator's now",
  'central/src/cli/commands/status.ts': "--watch: when the hub did not answer, on the operator's terminal",
  'central/src/tls/dev-certs.ts': "certificate validity: TLS checks it against the system's time",
};

const READS = /\bDate\.now\b|new Date\(\s*\)|\bperformance\.now\b|process\.hrtime/;
const FILLED_BY_CALLER = /^\s*push\([^)]*\bnowMs = Date\.now\(\)\)/;

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

describe('reading the time', () => {
  it('the agent and the hub read the system clock only through an injected Clock or monotonicClock', () => {
    const found: string[] = [];
    for (const file of [...sources('agent/src'), ...sources('central/src')]) {
      const name = file.split(sep).join('/');
      if (SYSTEM_TIME_MEANT[name]) continue;
      readFileSync(join(ROOT, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (READS.test(line) && !FILLED_BY_CALLER.test(line)) found.push(`${name}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(found).toEqual([]);
  });

  it('the check finds a direct read', () => {
    expect(READS.test('const at = new Date().toISOString();')).toBe(true);
    expect(READS.test('private readonly now = Date.now')).toBe(true);
    expect(READS.test('const t0 = performance.now();')).toBe(true);
    expect(READS.test('const at = new Date(this.now()).toISOString();')).toBe(false);
    expect(FILLED_BY_CALLER.test('  push(chunk: Buffer, nowMs = Date.now()): FramerOutput[] {')).toBe(true);
  });
});
