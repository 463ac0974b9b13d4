/**
 * `tillbridge-agent service …` and `tillbridge-hub service …` on Linux: the real CLIs as child
 * processes, with a fake `systemctl` first on PATH (a real executable that records its argv and
 * answers like systemctl), and the unit written under a temporary root.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processRunner, systemdInstall, systemdUninstall, shippedUnit } from '@tillbridge/shared';
import { AGENT_BIN, HUB_BIN, ROOT } from '@tillbridge/scripts/lib/paths';
import { runCommand } from '@tillbridge/scripts/lib/process';

let dir: string;
let bin: string;
let calls: string;
let n = 0;

/**
 * The fake systemctl: appends its argv (JSON) to $FAKE_SYSTEMCTL_LOG; `status` exits 3 (inactive);
 * FAKE_SYSTEMCTL_FAIL=verb fails that verb.
 */
const FAKE = `#!/bin/sh
node -e 'require("fs").appendFileSync(process.env.FAKE_SYSTEMCTL_LOG,
  JSON.stringify(process.argv.slice(1)) + "\\n")' -- "$@"
for a in "$@"; do
  if [ "$a" = "$FAKE_SYSTEMCTL_FAIL" ]; then echo "Failed to $a unit: Access denied" >&2; exit 1; fi
done
for a in "$@"; do
  if [ "$a" = status ]; then echo "○ tillbridge.service - inactive"; exit 3; fi
done
exit 0
`;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tb-service-'));
  bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'systemctl'), FAKE);
  chmodSync(join(bin, 'systemctl'), 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let root: string;
beforeEach(() => {
  root = join(dir, `root${++n}`);
  mkdirSync(root);
  calls = join(dir, `calls${n}.jsonl`);
});

const env = (more: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  PATH: `${bin}:${process.env.PATH}`,
  FAKE_SYSTEMCTL_LOG: calls,
  ...more,
});
const cli = (which: 'agent' | 'hub', args: string[], more?: NodeJS.ProcessEnv) =>
  runCommand(process.execPath, [which === 'agent' ? AGENT_BIN : HUB_BIN, 'service', ...args], env(more));
const recorded = (): string[][] =>
  existsSync(calls)
    ? readFileSync(calls, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as string[])
    : [];
const shipped = (name: string): string => readFileSync(join(ROOT, 'installers', 'systemd', `${name}.service`), 'utf8');

describe('service install/uninstall with --root (a staging tree)', () => {
  for (const name of ['tillbridge-agent', 'tillbridge-hub'] as const) {
    const which = name === 'tillbridge-agent' ? 'agent' : 'hub';
    it(
      `${name}: install writes the shipped unit and enables ` + `it offline; uninstall disables and removes it`,
      async () => {
        const r = await cli(which, ['install', '--root', root]);
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        const file = join(root, 'etc/systemd/system', `${name}.service`);
        expect(readFileSync(file, 'utf8')).toBe(shipped(name));
        expect(statSync(file).mode & 0o777).toBe(0o644);
        expect(recorded()).toEqual([[`--root=${root}`, 'enable', `${name}.service`]]);
        expect(r.stdout).toContain(`wrote ${file}`);

        const u = await cli(which, ['uninstall', '--root', root]);
        expect(u.code).toBe(0);
        expect(existsSync(file)).toBe(false);
        expect(recorded().at(-1)).toEqual([`--root=${root}`, 'disable', `${name}.service`]);
      },
    );
  }

  it('--now, start, stop and status need the running system: refused with --root (exit 2), nothing run', async () => {
    const a = await cli('agent', ['install', '--root', root, '--now']);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--now starts the service on this system: it cannot go with --root/);
    const s = await cli('agent', ['start', '--root', root]);
    expect(s.code).toBe(2);
    expect(s.stderr).toMatch(/start talks to the running system's service manager/);
    expect(recorded()).toEqual([]);
    expect(existsSync(join(root, 'etc/systemd/system/tillbridge-agent.service'))).toBe(false);
  });

  it('--unit-file installs another unit; a file that is not a service unit is refused', async () => {
    const mine = join(dir, `mine${n}.service`);
    writeFileSync(mine, '[Service]\nExecStart=/usr/bin/tillbridge-hub serve --listen 127.0.0.1:7500\n');
    expect((await cli('hub', ['install', '--root', root, '--unit-file', mine])).code).toBe(0);
    expect(readFileSync(join(root, 'etc/systemd/system/tillbridge-hub.service'), 'utf8')).toContain('7500');
    writeFileSync(mine, 'hello\n');
    const bad = await cli('hub', ['install', '--root', root, '--unit-file', mine]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/not a systemd service unit/);
  });

  it("systemctl's failure is the command's, quoted (exit 1)", async () => {
    const r = await cli('agent', ['install', '--root', root], { FAKE_SYSTEMCTL_FAIL: 'enable' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /`systemctl --root=\S+ enable tillbridge-agent.service` failed \(exit 1\): Failed to enable unit: Access denied/,
    );
  });
});

describe('start, stop, status on the running system', () => {
  it("hub: systemctl start, stop; status passes systemctl's output and exit code (3: not running)", async () => {
    expect((await cli('hub', ['start'])).code).toBe(0);
    expect((await cli('hub', ['stop'])).code).toBe(0);
    const s = await cli('hub', ['status']);
    expect(s.code).toBe(3);
    expect(s.stdout).toContain('inactive');
    expect(recorded()).toEqual([
      ['start', 'tillbridge-hub.service'],
      ['stop', 'tillbridge-hub.service'],
      ['status', '--no-pager', 'tillbridge-hub.service'],
    ]);
  });

  it('agent: the same calls for its unit', async () => {
    expect((await cli('agent', ['start'])).code).toBe(0);
    expect((await cli('agent', ['status'])).code).toBe(3);
    expect(recorded()).toEqual([
      ['start', 'tillbridge-agent.service'],
      ['status', '--no-pager', 'tillbridge-agent.service'],
    ]);
  });

  it('without systemctl on PATH: a clear error', async () => {
    const r = await runCommand(process.execPath, [HUB_BIN, 'service', 'start'], { PATH: join(dir, 'nothing-here') });
    expect(r.stderr).toMatch(/systemctl was not found \(is this a systemd system\?\)/);
    expect(r.code).toBe(2);
  });
});

describe('the live install sequence (unit directory redirected to a temporary one)', () => {
  it('install: daemon-reload, then enable --now; uninstall: disable --now, remove, daemon-reload', async () => {
    const unitDir = join(root, 'units');
    const run = processRunner(env());
    const text = shippedUnit('tillbridge-agent').text;
    expect(text).toBe(shipped('tillbridge-agent'));
    const done = await systemdInstall({ name: 'tillbridge-agent', unitDir, run, unitText: text, now: true });
    expect(readFileSync(join(unitDir, 'tillbridge-agent.service'), 'utf8')).toBe(text);
    expect(recorded()).toEqual([['daemon-reload'], ['enable', '--now', 'tillbridge-agent.service']]);
    expect(done.at(-1)).toBe('systemctl enable --now tillbridge-agent.service');
    await systemdUninstall({ name: 'tillbridge-agent', unitDir, run });
    expect(existsSync(join(unitDir, 'tillbridge-agent.service'))).toBe(false);
    expect(recorded().slice(2)).toEqual([['disable', '--now', 'tillbridge-agent.service'], ['daemon-reload']]);
  });

  // root writes anywhere: there is nothing to see as root
  it.skipIf(process.getuid?.() === 0)(
    'an unwritable unit directory: permission denied, said plainly, and systemctl is not run',
    async () => {
      const unitDir = join(root, 'ro');
      mkdirSync(unitDir, { mode: 0o500 });
      await expect(
        systemdInstall({ name: 'tillbridge-hub', unitDir, run: processRunner(env()), unitText: '[Service]\n' }),
      ).rejects.toThrow(/permission denied \(run it as root/);
      expect(recorded()).toEqual([]);
    },
  );
});

// the real systemctl enables and disables offline in a --root tree (no running manager needed)
const realSystemctl = spawnSync('systemctl', ['--version']).status === 0;
describe.skipIf(!realSystemctl)('with the real systemctl, offline in a --root tree', () => {
  it('install links the unit into multi-user.target.wants; uninstall removes both', async () => {
    const run = (args: string[]) => runCommand(process.execPath, [AGENT_BIN, 'service', ...args]);
    const r = await run(['install', '--root', root]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const link = join(root, 'etc/systemd/system/multi-user.target.wants/tillbridge-agent.service');
    expect(readlinkSync(link)).toBe('/etc/systemd/system/tillbridge-agent.service');
    const u = await run(['uninstall', '--root', root]);
    expect(u.code).toBe(0);
    expect(existsSync(link)).toBe(false);
    expect(existsSync(join(root, 'etc/systemd/system/tillbridge-agent.service'))).toBe(false);
  });
});
