/**
 * The shipped systemd units (installers/systemd/): `systemd-analyze verify` finds nothing to say about
 * them, and `systemd-analyze security` rates each at most 3.0 ("OK"). Real systemd-analyze, run on the
 * files as shipped: verify runs in a temporary root holding the host's unit library, the unit, and a
 * stub executable at the unit's ExecStart path (verify insists the binary exists; the Debian package
 * installs the real one there).
 */
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const UNITS = ['tillbridge-agent.service', 'tillbridge-hub.service'];
const MAX_EXPOSURE = 3.0;

/**
 * Runs `fn` on a temporary root holding the host's unit library and an empty etc/systemd/system, as
 * `systemd-analyze verify --root` reads them; the root is removed after.
 */
function inUnitRoot(fn: (root: string) => void): void {
  const root = mkdtempSync(join(tmpdir(), 'tb-units-'));
  try {
    cpSync('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), {
      recursive: true,
      verbatimSymlinks: true,
    });
    mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
    fn(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const haveAnalyze = analyze.status === 0;
if (!haveAnalyze)
  process.stderr.write(
    'test/systemd-units.test.ts: SKIPPED — systemd-analyze is not installed (Debian: apt-get install systemd)\n',
  );

/** The overall exposure systemd-analyze prints: "→ Overall exposure level for X: 1.9 OK". */
function exposureOf(output: string): number {
  const m = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(output);
  if (!m) throw new Error(`no exposure level in systemd-analyze output:\n${output}`);
  return Number(m[1]);
}

describe.skipIf(!haveAnalyze)('shipped systemd units', () => {
  for (const unit of UNITS) {
    const file = join(ROOT, 'installers', 'systemd', unit);

    it(`${unit}: systemd-analyze security --offline=true rates it ≤ ${MAX_EXPOSURE}`, () => {
      // exit status is not the verdict (it is non-zero only for --threshold): the score is
      const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', file], { encoding: 'utf8' });
      expect(r.error).toBeUndefined();
      const score = exposureOf(r.stdout);
      expect(score).toBeLessThanOrEqual(MAX_EXPOSURE);
    });

    it(`${unit}: systemd-analyze verify passes with no warning`, () => {
      const text = readFileSync(file, 'utf8');
      const exec = /^ExecStart=(\S+)/m.exec(text)?.[1];
      expect(exec, 'ExecStart= with an absolute path').toMatch(/^\/usr\/bin\/tillbridge-(agent|hub)$/);
      inUnitRoot((root) => {
        mkdirSync(join(root, dirname(exec!)), { recursive: true });
        writeFileSync(join(root, exec!), '#!/bin/sh\nexit 0\n');
        chmodSync(join(root, exec!), 0o755);
        writeFileSync(join(root, 'etc/systemd/system', unit), text);
        const r = spawnSync('systemd-analyze', ['verify', `--root=${root}`, unit], { encoding: 'utf8' });
        expect(r.stderr + r.stdout).toBe('');
        expect(r.status).toBe(0);
      });
    });
  }

  it('the check can fail: a unit with an unknown key or a missing binary is reported', () => {
    inUnitRoot((root) => {
      const text = readFileSync(join(ROOT, 'installers/systemd/tillbridge-hub.service'), 'utf8');
      writeFileSync(
        join(root, 'etc/systemd/system/tillbridge-hub.service'),
        text.replace('[Service]', '[Service]\nProtectEverything=yes'),
      );
      const r = spawnSync('systemd-analyze', ['verify', `--root=${root}`, 'tillbridge-hub.service'], {
        encoding: 'utf8',
      });
      expect(r.stderr).toMatch(/Unknown key.*ProtectEverything/);
      expect(r.stderr).toMatch(/tillbridge-hub is not executable/);
    });
  });

  it('the score can fail: an unhardened unit rates above the limit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tb-units-'));
    try {
      const bare = join(dir, 'bare.service');
      writeFileSync(bare, '[Service]\nExecStart=/usr/bin/tillbridge-hub serve\n');
      const out = execFileSync('systemd-analyze', ['security', '--offline=true', '--no-pager', bare], {
        encoding: 'utf8',
      });
      expect(exposureOf(out)).toBeGreaterThan(MAX_EXPOSURE);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('installers/hub.env.example', () => {
  it('documents only variables serve reads (and TILLBRIDGE_HUB_ARGS, which the unit expands)', () => {
    const example = readFileSync(join(ROOT, 'installers', 'hub.env.example'), 'utf8');
    const names = [...new Set([...example.matchAll(/^#?(TILLBRIDGE_[A-Z_]+)=/gm)].map((m) => m[1]!))];
    expect(names.length).toBeGreaterThan(5);
    const sources = [
      'central/src/cli/commands/hub.ts',
      'central/src/cli/context.ts',
      'central/src/feed/amqp-relay.ts',
      'central/src/console/config.ts',
    ]
      .map((f) => readFileSync(join(ROOT, f), 'utf8'))
      .join('\n');
    const unit = readFileSync(join(ROOT, 'installers', 'systemd', 'tillbridge-hub.service'), 'utf8');
    for (const name of names) {
      if (name === 'TILLBRIDGE_HUB_ARGS') expect(unit).toMatch(/^ExecStart=.* \$TILLBRIDGE_HUB_ARGS$/m);
      else expect(sources, name).toContain(`'${name}'`);
    }
    expect(unit).toMatch(/^EnvironmentFile=-\/etc\/tillbridge\/hub\.env$/m);
  });
});
