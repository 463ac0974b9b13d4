import { accessSync, closeSync, constants, mkdtempSync, openSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { checkDataDir as dataDirPermissions, parseHostPort } from '@tillbridge/shared';
import type { AgentConfig } from '../config.js';
import { agentDbPath } from '../db/agent-db.js';
import { serialProblem } from '../gateway/discovery.js';
import { needsHid } from '../gateway/factory.js';
import { loadNodeHidBinding } from '../gateway/hid/node-hid-binding.js';
import { listenError } from '@tillbridge/shared';

/**
 * What `tillbridge-agent run` will need from this machine, checked without starting it: every
 * port it listens on can be bound, the data directory can be created and written and is not
 * open to other users, serial
 * devices can be opened for reading and writing, USB HID support loads when a HID device is
 * configured. (The record profiles and certificate files are read by the config loader itself.)
 * Each finding names the config key it is about. A `problem` means `run` would fail or never
 * work; a `warning` is something it copes with (a serial device not plugged in yet).
 */
export type CheckLevel = 'ok' | 'warning' | 'problem';
export interface Check {
  key: string;
  level: CheckLevel;
  message: string;
}

export interface PreflightOptions {
  /** Ports the running agent of this config holds itself: not a conflict. */
  heldPorts?: ReadonlySet<number>;
}

export async function preflight(config: Readonly<AgentConfig>, opts: PreflightOptions = {}): Promise<Check[]> {
  const checks: Check[] = [];
  checks.push(checkDataDir(config.dataDir));
  // who else may read or write it (shared with `run` and the hub)
  for (const f of dataDirPermissions(config.dataDir))
    checks.push({ key: 'dataDir', level: f.level === 'error' ? 'problem' : 'warning', message: f.message });
  for (const l of listeners(config)) checks.push(await checkListener(l, opts.heldPorts));
  let ports: Promise<{ paths: string[] } | { problem: string }> | undefined;
  const listed = (): Promise<{ paths: string[] } | { problem: string }> => (ports ??= listSerialPorts());
  for (const [i, r] of config.registers.entries()) {
    if (r.transport.type === 'serial')
      checks.push(await checkSerial(`registers[${i}].transport.path`, r.transport.path, listed));
  }
  if (needsHid(config.registers, config.scanners)) checks.push(await checkHid(config));
  return checks;
}

function who(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

const errno = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? (err as Error).message;

function checkDataDir(dataDir: string): Check {
  const key = 'dataDir';
  const dir = resolve(dataDir);
  const asUser = `(checked as ${who()}; check as the user the agent runs as)`;
  let st;
  try {
    st = statSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR')
      return { key, level: 'problem', message: `${dir} cannot be reached (${errno(err)}) ${asUser}` };
    return checkCreatable(dir, asUser);
  }
  if (!st.isDirectory()) return { key, level: 'problem', message: `${dir} exists and is not a directory` };
  const probe = join(dir, `.tillbridge-check-${process.pid}`);
  try {
    closeSync(openSync(probe, 'wx', 0o600));
    unlinkSync(probe);
  } catch (err) {
    return { key, level: 'problem', message: `cannot write in ${dir} (${errno(err)}) ${asUser}` };
  }
  for (const f of [agentDbPath(dir), `${agentDbPath(dir)}-wal`, `${agentDbPath(dir)}-shm`]) {
    try {
      accessSync(f, constants.R_OK | constants.W_OK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      return {
        key,
        level: 'problem',
        message: `cannot read and write the agent's database ${f} (${errno(err)}) ${asUser}`,
      };
    }
  }
  return { key, level: 'ok', message: `${dir} exists and is writable` };
}

/** A directory that does not exist yet: the nearest existing ancestor must let us create it. */
function checkCreatable(dir: string, asUser: string): Check {
  const key = 'dataDir';
  let parent = dirname(dir);
  for (;;) {
    try {
      const st = statSync(parent);
      if (!st.isDirectory())
        return { key, level: 'problem', message: `${dir} cannot be created: ${parent} is not a directory` };
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR')
        return {
          key,
          level: 'problem',
          message: `${dir} cannot be created: a part of the path is a file, not a directory (ENOTDIR)`,
        };
      if (code !== 'ENOENT')
        return {
          key,
          level: 'problem',
          message: `${dir} cannot be created: ${parent} cannot be reached (${errno(err)}) ${asUser}`,
        };
      if (dirname(parent) === parent) break;
      parent = dirname(parent);
    }
  }
  try {
    rmdirSync(mkdtempSync(join(parent, '.tillbridge-check-')));
  } catch (err) {
    return {
      key,
      level: 'problem',
      message: `${dir} cannot be created: no directory can be made in ${parent} (${errno(err)}) ${asUser}`,
    };
  }
  return { key, level: 'ok', message: `${dir} does not exist yet; the agent creates it at start` };
}

interface Listener {
  key: string;
  host: string;
  port: number;
  what: string;
}

/** Every address `run` listens on: each tcp-server register, each http address (shared), the status endpoint. */
function listeners(config: Readonly<AgentConfig>): Listener[] {
  const out: Listener[] = [];
  const seen = new Set<string>();
  config.registers.forEach((r, i) => {
    const t = r.transport;
    if (t.type !== 'tcp-server' && t.type !== 'http') return;
    const id = `${t.host}:${t.port}`;
    if (t.port !== 0 && seen.has(id)) return; // http registers share one listener
    seen.add(id);
    out.push({ key: `registers[${i}].transport.port`, host: t.host, port: t.port, what: `register ${r.id}` });
  });
  const s = parseHostPort(config.status.listen);
  out.push({ key: 'status.listen', host: s.host, port: s.port, what: 'the status endpoint' });
  return out;
}

function checkListener(l: Listener, held: ReadonlySet<number> | undefined): Promise<Check> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' && held?.has(l.port)) {
        done({ key: l.key, level: 'ok', message: `${l.host}:${l.port} (${l.what}) is held by the running agent` });
      } else {
        done({
          key: l.key,
          level: 'problem',
          message: `${l.what}: ${listenError(err, l.host, l.port).message}, checked as ${who()}`,
        });
      }
    });
    server.listen({ host: l.host, port: l.port, exclusive: true }, () => {
      server.close(() =>
        done({ key: l.key, level: 'ok', message: `${l.host}:${l.port} (${l.what}) can be listened on` }),
      );
    });
  });
}

/** The serial ports the system lists (serialport's SerialPort.list(), which runs udevadm on Linux). */
async function listSerialPorts(): Promise<{ paths: string[] } | { problem: string }> {
  try {
    const { SerialPort } = await import('serialport');
    return { paths: (await SerialPort.list()).map((p) => p.path) };
  } catch (err) {
    // SerialPort.list() rejects where udevadm is missing: say so, it is not fatal
    return { problem: serialProblem(err) };
  }
}

async function checkSerial(
  key: string,
  path: string,
  listed: () => Promise<{ paths: string[] } | { problem: string }>,
): Promise<Check> {
  const seen = async (): Promise<string> => {
    const l = await listed();
    return 'problem' in l
      ? l.problem
      : l.paths.length
        ? `serial ports seen now: ${l.paths.join(', ')}`
        : 'no serial port is seen now';
  };
  if (process.platform === 'win32') {
    // COM3 and the like: only the port list knows
    const l = await listed();
    if ('problem' in l) return { key, level: 'warning', message: `${path} could not be checked: ${l.problem}` };
    if (l.paths.some((p) => p.toLowerCase() === path.toLowerCase()))
      return { key, level: 'ok', message: `${path} is present` };
    return {
      key,
      level: 'warning',
      message: `${path} is not present now; the agent opens it when it appears (${await seen()})`,
    };
  }
  try {
    statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return {
        key,
        level: 'warning',
        message: `${path} is not present now; the agent opens it when it appears (${await seen()})`,
      };
    }
    return { key, level: 'problem', message: `${path} cannot be reached (${errno(err)}; checked as ${who()})` };
  }
  try {
    accessSync(path, constants.R_OK | constants.W_OK);
  } catch (err) {
    return {
      key,
      level: 'problem',
      message:
        `${path} cannot be opened for reading and writing (${errno(err)}; checked as ${who()}): let the ` +
        `agent's user use it (Debian/Ubuntu: add it to the group "dialout")`,
    };
  }
  return { key, level: 'ok', message: `${path} can be opened for reading and writing` };
}

async function checkHid(config: Readonly<AgentConfig>): Promise<Check> {
  const i = config.registers.findIndex((r) => r.transport.type === 'hid');
  const key = i >= 0 ? `registers[${i}].transport` : 'scanners';
  try {
    await loadNodeHidBinding();
    return { key, level: 'ok', message: 'USB HID support loads' };
  } catch (err) {
    return { key, level: 'problem', message: (err as Error).message };
  }
}
