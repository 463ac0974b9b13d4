import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { printServiceOutcome, systemdService } from '../src/cli-service.js';
import type { CommandResult, CommandRunner } from '../src/service/runner.js';

let dir: string;
let calls: string[][];
const ok: CommandResult = { code: 0, stdout: '', stderr: '' };
/** systemctl as the commands see it: records each call; `status` answers "inactive" with exit 3. */
const systemctl: CommandRunner = (cmd, args) => {
  calls.push([cmd, ...args]);
  return Promise.resolve(args[0] === 'status' ? { code: 3, stdout: 'inactive\n', stderr: '' } : ok);
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tb-cli-service-'));
  calls = [];
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

describe('systemdService', () => {
  it(
    'installs the given unit under --root and enables it there, then removes it; start needs the live ' + 'system',
    async () => {
      const unitFile = join(dir, 'tb.service');
      writeFileSync(unitFile, '[Unit]\nDescription=test\n[Service]\nExecStart=/bin/true\n');
      const root = join(dir, 'image');
      const service = systemdService('tillbridge-test', () => systemctl);
      const unit = join(root, 'etc', 'systemd', 'system', 'tillbridge-test.service');

      expect(await service.install({ root, unitFile })).toEqual([
        `wrote ${unit}`,
        `systemctl --root=${root} enable tillbridge-test.service`,
      ]);
      expect(readFileSync(unit, 'utf8')).toBe(readFileSync(unitFile, 'utf8'));
      await expect(service.install({ root, unitFile, now: true })).rejects.toThrow(/cannot go with --root/);

      expect(await service.uninstall({ root })).toEqual([
        `systemctl --root=${root} disable tillbridge-test.service`,
        `removed ${unit}`,
      ]);
      expect(existsSync(unit)).toBe(false);
      await expect(service.control('start', { root })).rejects.toThrow(/cannot go with --root/);
      expect(calls.map((c) => c.slice(1, -1))).toEqual([
        [`--root=${root}`, 'enable'],
        [`--root=${root}`, 'disable'],
      ]);
    },
  );

  it('status: systemctl asked about the live unit, its answer and exit code printed as they are', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockReturnValue(true);
    const err = vi.spyOn(process.stderr, 'write').mockReturnValue(true);
    const r = await systemdService('tillbridge-test', () => systemctl).control('status', {});
    expect(calls).toEqual([['systemctl', 'status', '--no-pager', 'tillbridge-test.service']]);
    printServiceOutcome(r);
    printServiceOutcome(['wrote x', 'systemctl enable x']);
    expect(out.mock.calls.map((c) => c[0])).toEqual(['inactive\n', 'wrote x\nsystemctl enable x\n']);
    expect(err.mock.calls.map((c) => c[0])).toEqual(['']);
    expect(process.exitCode).toBe(3);
  });
});
