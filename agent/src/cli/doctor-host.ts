import { readFileSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import type { DoctorFinding } from '@tillbridge/shared';

/** Who the agent runs as, for the permission checks: the user named by --user, or the one running the doctor. */
export interface ServiceUser {
  name: string;
  uid: number;
  gid: number;
  /** group ids, the primary one included */
  groups: number[];
  /** group names by id, where /etc/group names them */
  groupNames: Map<number, string>;
}

function readLines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n');
  } catch {
    return [];
  }
}

/**
 * The user `name` (or the current one) from /etc/passwd and /etc/group; undefined on Windows, a TB-free error text when
 * unknown.
 */
export function serviceUser(name?: string): ServiceUser | { problem: string } | undefined {
  if (process.platform === 'win32') return undefined;
  const groupNames = new Map<number, string>();
  const members = new Map<number, string[]>();
  for (const line of readLines('/etc/group')) {
    const [g, , id, list] = line.split(':');
    if (!g || id === undefined || id === '') continue;
    groupNames.set(Number(id), g);
    members.set(Number(id), (list ?? '').split(',').filter(Boolean));
  }
  if (name === undefined) {
    const me = userInfo();
    const groups = process.getgroups?.() ?? [me.gid];
    return { name: me.username, uid: me.uid, gid: me.gid, groups: [...new Set([me.gid, ...groups])], groupNames };
  }
  for (const line of readLines('/etc/passwd')) {
    const [n, , uid, gid] = line.split(':');
    if (n !== name || uid === undefined || gid === undefined) continue;
    const groups = [Number(gid)];
    for (const [id, m] of members) if (m.includes(name) && !groups.includes(id)) groups.push(id);
    return { name, uid: Number(uid), gid: Number(gid), groups, groupNames };
  }
  return { problem: `no user "${name}" in /etc/passwd` };
}

const octal = (mode: number): string => `0${(mode & 0o777).toString(8)}`;

/** Whether `u` may read and write a file of this owner, group and mode (root may). */
export function mayReadWrite(u: ServiceUser, st: { uid: number; gid: number; mode: number }): boolean {
  if (u.uid === 0) return true;
  if (st.uid === u.uid) return (st.mode & 0o600) === 0o600;
  if (u.groups.includes(st.gid)) return (st.mode & 0o060) === 0o060;
  return (st.mode & 0o006) === 0o006;
}

/**
 * Serial and HID device files the agent's user must open: present, and readable and writable by
 * that user by owner, group membership (dialout for serial ports, plugdev or a udev rule for HID
 * on Debian/Ubuntu) or mode.
 */
export function deviceFindings(
  u: ServiceUser,
  devices: { id: string; path: string; kind: 'serial' | 'hid' }[],
): DoctorFinding[] {
  const out: DoctorFinding[] = [];
  for (const d of devices) {
    let st;
    try {
      st = statSync(d.path);
    } catch (err) {
      const c = (err as NodeJS.ErrnoException).code;
      out.push({
        id: `device.${d.kind}`,
        level: 'warning',
        message: `${d.id}: ${d.path} ${c === 'ENOENT' ? 'is not present now' : `cannot be looked at (${c})`}`,
        action:
          `plug the device in (or check the path in the config: \`tillbridge-agent devices\` lists what ` +
          'this machine sees); the agent opens it when it appears',
      });
      continue;
    }
    const group = u.groupNames.get(st.gid) ?? `#${st.gid}`;
    const what = `${d.path} (owner #${st.uid}, group ${group}, mode ${octal(st.mode)})`;
    if (mayReadWrite(u, st)) {
      out.push({ id: `device.${d.kind}`, level: 'ok', message: `${d.id}: ${u.name} may read and write ${what}` });
      continue;
    }
    const usual = d.kind === 'serial' ? 'dialout' : 'plugdev';
    out.push({
      id: `device.${d.kind}`,
      level: 'error',
      message: `${d.id}: the agent's user ${u.name} may not read and write ${what}`,
      action:
        (st.mode & 0o060) === 0o060
          ? `add ${u.name} to the group ${group} (\`sudo usermod -aG ${group} ${u.name}\`), then restart the agent`
          : d.kind === 'hid'
            ? `give ${u.name} access to the device with a udev rule (docs/devices.md; e.g. ` +
              `GROUP="${usual}", MODE="0660") and add it to that group, then replug the device`
            : `the device is not open to its group (mode ${octal(st.mode)}): give serial ports to the ` +
              `group ${usual} with mode 0660 (a udev rule: SUBSYSTEM=="tty", GROUP="${usual}", ` +
              `MODE="0660"), add ${u.name} to it (\`sudo usermod -aG ${usual} ${u.name}\`), then replug ` +
              'the device and restart the agent',
    });
  }
  return out;
}

/** The data directory belongs to the agent's user (who else owns it can replace the database). */
export function ownerFinding(u: ServiceUser, dataDir: string): DoctorFinding | undefined {
  let st;
  try {
    st = statSync(dataDir);
  } catch {
    return undefined; // not there yet: created by the agent, as its user
  }
  if (st.uid === u.uid) return { id: 'dataDir.owner', level: 'ok', message: `${dataDir} belongs to ${u.name}` };
  return {
    id: 'dataDir.owner',
    level: u.uid === 0 ? 'warning' : 'error',
    message: `${dataDir} belongs to user #${st.uid}, not to the agent's user ${u.name} (#${u.uid})`,
    action:
      `make the agent's user its owner: \`sudo chown -R ${u.name} ${dataDir}\` (or run the doctor with ` +
      '--user naming the user the service runs as)',
  };
}
