import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { deviceFindings, mayReadWrite, ownerFinding, serviceUser, type ServiceUser } from '../src/cli/doctor-host.js';

const dir = mkdtempSync(join(tmpdir(), 'tb-doctor-host-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const posix = process.platform !== 'win32';

describe.runIf(posix)("the agent's user and its devices", () => {
  const me = serviceUser() as ServiceUser;
  // a user who is not the files' owner and in none of their groups
  const other: ServiceUser = {
    name: 'svc',
    uid: me.uid + 12345,
    gid: 54321,
    groups: [54321],
    groupNames: new Map([
      [54321, 'svc'],
      [me.gid, 'devgroup'],
    ]),
  };

  it('reads the current user, and a named one from /etc/passwd; an unknown name is a problem', () => {
    expect(me.uid).toBe(process.getuid!());
    expect(serviceUser('no-such-user-tb')).toEqual({ problem: 'no user "no-such-user-tb" in /etc/passwd' });
  });

  it('owner, group and other bits decide', () => {
    expect(mayReadWrite(other, { uid: other.uid, gid: 0, mode: 0o600 })).toBe(true);
    expect(mayReadWrite(other, { uid: 0, gid: 54321, mode: 0o660 })).toBe(true);
    expect(mayReadWrite(other, { uid: 0, gid: 0, mode: 0o660 })).toBe(false);
    expect(mayReadWrite(other, { uid: 0, gid: 0, mode: 0o666 })).toBe(true);
    expect(mayReadWrite({ ...other, uid: 0 }, { uid: 5, gid: 5, mode: 0o600 })).toBe(true);
  });

  it(
    'a device file the service user may not open is an error saying which group to join; ' + 'a missing one a warning',
    () => {
      const dev = join(dir, 'ttyFAKE0');
      writeFileSync(dev, '');
      chmodSync(dev, 0o660);
      const [f] = deviceFindings(other, [{ id: 'register R1', path: dev, kind: 'serial' }]);
      expect(f).toMatchObject({
        id: 'device.serial',
        level: 'error',
        message: expect.stringMatching(/svc may not read and write .*mode 0660/),
        action: expect.stringMatching(/usermod -aG devgroup svc/),
      });
      chmodSync(dev, 0o666);
      expect(deviceFindings(other, [{ id: 'register R1', path: dev, kind: 'serial' }])[0]).toMatchObject({
        level: 'ok',
      });
      expect(deviceFindings(other, [{ id: 'register R2', path: join(dir, 'gone'), kind: 'hid' }])[0]).toMatchObject({
        id: 'device.hid',
        level: 'warning',
        message: expect.stringMatching(/not present/),
      });
    },
  );

  it('a data directory the service user does not own is flagged with the chown to run', () => {
    expect(ownerFinding(me, dir)).toMatchObject({ level: 'ok' });
    expect(ownerFinding(other, dir)).toMatchObject({
      id: 'dataDir.owner',
      level: 'error',
      action: expect.stringContaining(`chown -R svc ${dir}`),
    });
  });
});

describe.runIf(posix)('a device open to its owner only', () => {
  it('says to give it to a group with a udev rule', () => {
    const me = serviceUser() as ServiceUser;
    const other: ServiceUser = { name: 'svc', uid: me.uid + 12345, gid: 54321, groups: [54321], groupNames: new Map() };
    const dev = join(dir, 'ttyFAKE1');
    writeFileSync(dev, '');
    chmodSync(dev, 0o600);
    expect(deviceFindings(other, [{ id: 'register R1', path: dev, kind: 'serial' }])[0]).toMatchObject({
      level: 'error',
      action: expect.stringMatching(/mode 0600.*udev rule.*GROUP="dialout", MODE="0660".*usermod -aG dialout svc/),
    });
  });
});
