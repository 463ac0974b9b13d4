import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TbCodes, TbError } from '../errors.js';
import { mustRun, type CommandResult, type CommandRunner } from './runner.js';

/**
 * `tillbridge-agent|hub service …` on Linux: the shipped unit (installers/systemd/NAME.service)
 * written to ROOT/etc/systemd/system and managed with systemctl.
 *
 * Without --root (ROOT = /): install runs daemon-reload and enable (--now: and start); uninstall
 * disables (and stops), removes the file and reloads. With --root (an image or staging tree, no
 * running manager): only `systemctl --root=ROOT enable|disable`, and nothing that needs the manager.
 */
export interface SystemdTarget {
  /** The unit's name without .service: tillbridge-agent or tillbridge-hub. */
  name: string;
  /** Where the unit goes: ROOT/etc/systemd/system. Default "/". */
  root?: string;
  /** Where the unit file goes, when not ROOT/etc/systemd/system (tests of the live sequence). */
  unitDir?: string;
  run: CommandRunner;
}

export function unitName(name: string): string {
  return `${name}.service`;
}

export function unitPath(t: { name: string; root?: string; unitDir?: string }): string {
  return join(t.unitDir ?? join(t.root ?? '/', 'etc', 'systemd', 'system'), unitName(t.name));
}

const live = (t: { root?: string }): boolean => resolve(t.root ?? '/') === '/';

/**
 * The shipped unit's text: `explicit` if given, else the first of installers/systemd/NAME.service
 * above this module (a source tree or release bundle), /usr/lib/systemd/system and /lib/systemd/system
 * (where the Debian package puts it).
 */
export function shippedUnit(name: string, explicit?: string): { file: string; text: string } {
  const tried: string[] = [];
  const candidates: string[] = [];
  if (explicit) candidates.push(explicit);
  else {
    let dir = dirname(fileURLToPath(import.meta.url));
    for (let i = 0; i < 6; i++) {
      candidates.push(join(dir, 'installers', 'systemd', unitName(name)));
      dir = dirname(dir);
    }
    candidates.push(join('/usr/lib/systemd/system', unitName(name)), join('/lib/systemd/system', unitName(name)));
  }
  for (const file of candidates) {
    tried.push(file);
    if (existsSync(file)) {
      const text = readFileSync(file, 'utf8');
      if (!/^\[Service\]/m.test(text))
        throw new TbError(TbCodes.CONFIG, `--unit-file ${file}: not a systemd service unit (no [Service] section)`);
      return { file, text };
    }
  }
  throw new TbError(
    TbCodes.CONFIG,
    explicit
      ? `--unit-file ${explicit}: no such file`
      : `the shipped unit ${unitName(name)} was not found (looked in ${tried.join(', ')}): pass --unit-file`,
  );
}

/** Writes the unit and enables it (now: and starts it). Returns what was done, a line each. */
export async function systemdInstall(t: SystemdTarget & { unitText: string; now?: boolean }): Promise<string[]> {
  if (t.now && !live(t))
    throw new TbError(TbCodes.CONFIG, '--now starts the service on this system: it cannot go with --root');
  const file = unitPath(t);
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, t.unitText, { mode: 0o644 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const denied = e.code === 'EACCES' || e.code === 'EPERM';
    throw new TbError(
      TbCodes.FORBIDDEN,
      `cannot write ${file}: ${denied ? 'permission denied (run it as root, e.g. with sudo)' : e.message}`,
    );
  }
  const done = [`wrote ${file}`];
  if (live(t)) {
    await mustRun(t.run, 'systemctl', ['daemon-reload']);
    done.push('systemctl daemon-reload');
    const args = t.now ? ['enable', '--now', unitName(t.name)] : ['enable', unitName(t.name)];
    await mustRun(t.run, 'systemctl', args);
    done.push(`systemctl ${args.join(' ')}`);
  } else {
    const args = [`--root=${resolve(t.root ?? '/')}`, 'enable', unitName(t.name)];
    await mustRun(t.run, 'systemctl', args);
    done.push(`systemctl ${args.join(' ')}`);
  }
  return done;
}

/** Disables (live: and stops) the unit, removes its file, reloads. Returns what was done. */
export async function systemdUninstall(t: SystemdTarget): Promise<string[]> {
  const file = unitPath(t);
  const done: string[] = [];
  const args = live(t)
    ? ['disable', '--now', unitName(t.name)]
    : [`--root=${resolve(t.root ?? '/')}`, 'disable', unitName(t.name)];
  await mustRun(t.run, 'systemctl', args);
  done.push(`systemctl ${args.join(' ')}`);
  if (existsSync(file)) {
    rmSync(file);
    done.push(`removed ${file}`);
  }
  if (live(t)) {
    await mustRun(t.run, 'systemctl', ['daemon-reload']);
    done.push('systemctl daemon-reload');
  }
  return done;
}

/** start and stop: systemctl's; status: its output and exit code as they are (3: not running). */
export async function systemdControl(t: SystemdTarget, what: 'start' | 'stop' | 'status'): Promise<CommandResult> {
  if (!live(t))
    throw new TbError(
      TbCodes.CONFIG,
      `${what} talks to the running system's service manager: it cannot go with --root`,
    );
  const args = what === 'status' ? ['status', '--no-pager', unitName(t.name)] : [what, unitName(t.name)];
  return what === 'status' ? t.run('systemctl', args) : mustRun(t.run, 'systemctl', args);
}
