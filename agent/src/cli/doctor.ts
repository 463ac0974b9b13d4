import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command, Option } from 'commander';
import {
  checkDataDir,
  clockFromEnv,
  diskFinding,
  doctorReport,
  finishDoctor,
  isTbError,
  redactSecrets,
  secretValues,
  supportBundle,
  TbCodes,
  type Clock,
  type DoctorFinding,
  type DoctorReport,
} from '@tillbridge/shared';
import type { AgentConfig } from '../config.js';
import { loadAgentConfig } from '../config.js';
import { SOFTWARE } from '../agent.js';
import { listDevices, type DeviceList, type HidDeviceInfo } from '../gateway/discovery.js';
import type { AgentStatus } from '../status/status-report.js';
import { checkConfig } from './check-config.js';
import type { Check } from './preflight.js';
import { readStatus } from './status-command.js';
import { hubFindings } from './doctor-hub.js';
import { deviceFindings, ownerFinding, serviceUser } from './doctor-host.js';

/**
 * `tillbridge-agent doctor`: everything `check-config` checks (the config, ports, data
 * directory, devices for this user), and what a running store needs beyond it: the data
 * directory's owner, the devices for the agent's own user, the hub reachable and trusted and its
 * clock close to this one, disk space, the outbox. docs/doctor.md lists every finding.
 */
export interface AgentDoctorOptions {
  configFile: string;
  /** the user the agent runs as (default: the one running the doctor) */
  user?: string;
  clock: Clock;
  hubTimeoutMs?: number;
}

export interface AgentDoctorResult {
  report: DoctorReport;
  config?: Readonly<AgentConfig>;
  status?: AgentStatus;
  /** the devices this machine sees, when they were listed */
  devices?: DeviceList;
}

interface HidMatch {
  vendorId: number;
  productId: number;
  serialNumber?: string | undefined;
  path?: string | undefined;
}

const hex = (n: number): string => n.toString(16).padStart(4, '0');

function matches(d: HidDeviceInfo, want: HidMatch): boolean {
  return (
    d.vendorId === want.vendorId &&
    d.productId === want.productId &&
    (want.serialNumber === undefined || d.serialNumber === want.serialNumber)
  );
}

/** Outbox age past these: a warning (sales wait), an error (a day behind). */
export const OUTBOX_WARN_MS = 15 * 60_000;
export const OUTBOX_ERROR_MS = 24 * 3_600_000;

/** What to do about a `check-config` finding, by the config key it names. */
function actionFor(c: Check): string | undefined {
  if (c.level === 'ok') return undefined;
  if (c.key === 'dataDir') {
    return /writable by group|read by group/.test(c.message)
      ? "let only the agent's user into it: run the chmod shown in the message"
      : "make sure dataDir in the config names a directory the agent's user owns and may write (created 0700)";
  }
  if (c.key.endsWith('.port') || c.key === 'status.listen')
    return (
      'another program listens on that port: stop it, or give this one another port in the config (the ' +
      'registers must be told too)'
    );
  if (c.key.endsWith('.path'))
    return c.message.includes('not present')
      ? 'plug the device in, or fix the path in the config (`tillbridge-agent devices` lists what this machine sees)'
      : "let the agent's user use the device (Debian/Ubuntu: add it to the group dialout) and restart the agent";
  if (c.key.startsWith('registers') || c.key === 'scanners')
    return 'install USB HID support for this machine (see docs/devices.md) or remove the HID device from the config';
  return 'fix the key named in the config file, then run the doctor again';
}

export async function agentDoctor(opts: AgentDoctorOptions): Promise<AgentDoctorResult> {
  const findings: DoctorFinding[] = [];
  const now = (): number => opts.clock.now();
  const cc = await checkConfig(opts.configFile);
  if (cc.error !== undefined) {
    findings.push({
      id: 'config.valid',
      level: 'error',
      message: `${opts.configFile} is not valid: ${cc.problems.join('; ')}`,
      action: 'correct each key named (docs/configuration.md), then run `tillbridge-agent doctor` again',
    });
    return { report: doctorReport('tillbridge-agent', now(), findings) };
  }
  const config = loadAgentConfig(opts.configFile);
  findings.push({
    id: 'config.valid',
    level: 'ok',
    message: `${opts.configFile} is valid (store ${config.store}, ${config.registers.length} register(s))`,
  });
  for (const c of cc.checks) {
    const f: DoctorFinding = {
      id: `config.${c.key}`,
      level: c.level === 'problem' ? 'error' : c.level,
      message: c.message,
    };
    const a = actionFor(c);
    if (a) f.action = a;
    findings.push(f);
  }
  // the agent's own user: who owns the data directory, who may open the devices
  const { findings: userAndDevices, seen } = await userAndDeviceFindings(opts.user, config);
  findings.push(...userAndDevices);
  findings.push(diskFinding('disk.dataDir', config.dataDir));
  findings.push(...logFindings(config));
  findings.push(...(await hubFindings(config, now, opts.hubTimeoutMs)));

  let status: AgentStatus | undefined;
  try {
    status = await readStatus(config, opts.configFile, now);
  } catch (err) {
    if (!isTbError(err, TbCodes.FORBIDDEN)) throw err;
    findings.push({
      id: 'outbox',
      level: 'warning',
      message: err.message,
      action: "run the doctor as the agent's user (sudo -u USER tillbridge-agent doctor …) or as root",
    });
  }
  if (status) findings.push(...statusFindings(status));
  const result: AgentDoctorResult = { report: doctorReport('tillbridge-agent', now(), findings), config };
  if (seen) result.devices = seen;
  if (status) result.status = status;
  return result;
}

/** The agent's user (owner of the data directory) and whether it may open the registers' and scanners' devices. */
async function userAndDeviceFindings(
  user: string | undefined,
  config: Readonly<AgentConfig>,
): Promise<{ findings: DoctorFinding[]; seen: DeviceList | undefined }> {
  const findings: DoctorFinding[] = [];
  const u = serviceUser(user);
  let seen: DeviceList | undefined;
  if (u && 'problem' in u)
    findings.push({
      id: 'user',
      level: 'error',
      message: u.problem,
      action: 'give --user the name of the user the agent service runs as (e.g. tillbridge)',
    });
  else if (u) {
    const owner = ownerFinding(u, config.dataDir);
    if (owner) findings.push(owner);
    const devices: { id: string; path: string; kind: 'serial' | 'hid' }[] = [];
    const hid: { id: string; want: HidMatch }[] = [];
    for (const r of config.registers) {
      if (r.transport.type === 'serial')
        devices.push({ id: `register ${r.id}`, path: r.transport.path, kind: 'serial' });
      if (r.transport.type === 'hid') hid.push({ id: `register ${r.id}`, want: r.transport });
    }
    for (const sc of config.scanners) hid.push({ id: `scanner ${sc.id}`, want: sc });
    if (hid.length > 0) {
      // HID devices are named by vendor and product id: the device files are those the system lists for them
      seen = await listDevices();
      for (const h of hid) {
        const paths = seen.hid
          .filter((d) => matches(d, h.want))
          .map((d) => d.path)
          .filter((p): p is string => typeof p === 'string' && p.startsWith('/dev/'));
        if (h.want.path?.startsWith('/dev/') && !paths.includes(h.want.path)) paths.push(h.want.path);
        if (paths.length === 0) {
          findings.push({
            id: 'device.hid',
            level: 'warning',
            message:
              `${h.id}: no HID device ${hex(h.want.vendorId)}:${hex(h.want.productId)} is seen ` +
              `now${seen.problems.length ? ` (${seen.problems.join('; ')})` : ''}`,
            action:
              'plug it in, or check vendorId and productId in the config against `tillbridge-agent devices`; the ' +
              'agent opens it when it appears',
          });
        }
        for (const p of paths) devices.push({ id: h.id, path: p, kind: 'hid' });
      }
    }
    findings.push(...deviceFindings(u, devices));
  }
  return { findings, seen };
}

/** log.file can be written; log.level "trace" is for integrating a register, not for every day. */
function logFindings(config: Readonly<AgentConfig>): DoctorFinding[] {
  const out: DoctorFinding[] = [];
  if (config.log.level === 'trace') {
    out.push({
      id: 'log.level',
      level: 'warning',
      message: 'log.level is "trace": every register frame is logged (card data masked), which grows the log fast',
      action: 'set log.level back to "info" in the config once the register works, and restart the agent',
    });
  }
  const file = config.log.file;
  if (file !== undefined) {
    try {
      accessSync(existsSync(file) ? file : dirname(file), constants.W_OK);
      out.push({
        id: 'log.file',
        level: 'ok',
        message: `${file} can be written (rotated at ${config.log.maxSizeMb} MB, ${config.log.keep} kept)`,
      });
    } catch (err) {
      out.push({
        id: 'log.file',
        level: 'error',
        message:
          `log.file ${file} cannot be written ` +
          `(${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); the agent will not start`,
        action: "create its directory and let the agent's user write there, or change log.file in the config",
      });
    }
  }
  return out;
}

function age(ms: number): string {
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

function statusFindings(s: AgentStatus): DoctorFinding[] {
  const out: DoctorFinding[] = [];
  out.push(
    s.running
      ? {
          id: 'agent.running',
          level: 'ok',
          message:
            `the agent is running ` +
            `(pid ${s.pid})${s.hub.connected ? ', connected to the hub' : ', NOT connected to the hub'}`,
        }
      : {
          id: 'agent.running',
          level: 'warning',
          message: 'the agent is not running (or does not answer on its status endpoint)',
          action:
            'start the service (Linux: `sudo systemctl start tillbridge-agent`; Windows: Services, "Tillbridge ' +
            'agent"), then look at its log if it stops again',
        },
  );
  if (s.running && !s.hub.connected) {
    out.push({
      id: 'agent.hub',
      level: s.hub.refused ? 'error' : 'warning',
      message:
        `the agent is not connected to the hub${s.hub.lastError ? `: ${s.hub.lastError}` : ''}` +
        (s.hub.refused ? ` (refused: ${s.hub.refused.reason})` : ''),
      action: s.hub.refused
        ? 'the hub refuses this agent: tell the hub\'s operator (docs/operations.md, "two live copies")'
        : 'see the hub.* findings above; the agent keeps retrying on its own',
    });
  }
  const { depth, oldestAgeMs } = s.outbox;
  const text =
    depth === 0
      ? 'the outbox is empty: everything recorded has reached the hub'
      : `${depth} event(s) wait in the outbox to be sent to the hub, the oldest for ${age(oldestAgeMs)}`;
  const action =
    'they are sent on their own once the hub can be reached: fix the hub.* findings; nothing is lost meanwhile';
  if (depth > 0 && oldestAgeMs > OUTBOX_ERROR_MS) out.push({ id: 'outbox', level: 'error', message: text, action });
  else if (depth > 0 && oldestAgeMs > OUTBOX_WARN_MS)
    out.push({ id: 'outbox', level: 'warning', message: text, action });
  else out.push({ id: 'outbox', level: 'ok', message: text });
  return out;
}

/**
 * The support bundle (.tar.gz): the config with every secret replaced by "[redacted]", the
 * findings, the status, versions, the devices this machine sees, and the recent logs when
 * log.file is set. Every entry is scrubbed of the config's secret values once more, wherever
 * they appear (a log line, an error message).
 */
export async function agentBundle(configFile: string, r: AgentDoctorResult, nowMs: number): Promise<Buffer> {
  let raw: unknown;
  let configText: string;
  try {
    raw = JSON.parse(readFileSync(configFile, 'utf8'));
    configText = `${JSON.stringify(redactSecrets(raw), null, 2)}\n`;
  } catch (err) {
    // a file that is not JSON cannot be redacted key by key: it is left out
    configText =
      `(${configFile} could not be read as JSON, so it is not included: ` +
      `${(err as Error).message.slice(0, 200)})\n`;
  }
  const files: Record<string, string> = {
    'config.json': configText,
    'status.json': `${JSON.stringify(r.status ?? null, null, 2)}\n`,
    'devices.json': `${JSON.stringify(r.devices ?? (await listDevices()), null, 2)}\n`,
  };
  if (r.config) {
    const perms = checkDataDir(r.config.dataDir).map((f) => `${f.level}: ${f.message}`);
    files['data-dir.txt'] = `${r.config.dataDir}\n${perms.join('\n')}\n`;
  }
  const logFile = r.config?.log.file;
  const log = logFile ? { file: logFile, program: 'agent' } : undefined;
  return supportBundle(
    r.report,
    { software: SOFTWARE, versions: { configFile }, files, log, secrets: secretValues(raw) },
    nowMs,
  );
}

async function doctorCmd(opts: { config?: string; json?: boolean; bundle?: string; user?: string }): Promise<void> {
  const file = opts.config ?? process.env.TILLBRIDGE_CONFIG;
  if (!file) {
    process.stderr.write('error: no config file: pass --config FILE or set TILLBRIDGE_CONFIG\n');
    process.exit(2);
  }
  let clock: Clock;
  try {
    clock = clockFromEnv(process.env).clock;
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const dopts: AgentDoctorOptions = { configFile: file, clock };
  if (opts.user) dopts.user = opts.user;
  const r = await agentDoctor(dopts);
  await finishDoctor(r.report, opts, () => agentBundle(file, r, clock.now()));
}

/** Adds `tillbridge-agent doctor` to the program. */
export function doctorCommand(program: Command, configOpt: () => Option): void {
  program
    .command('doctor')
    .description(
      'check this machine, the config, the devices, the hub (reachable, trusted, clock), disk and outbox; say what ' +
        'to do about each problem',
    )
    .addOption(configOpt())
    .option('--json', 'print the findings as JSON')
    .option('--bundle <file>', 'also write a support bundle (.tar.gz, secrets redacted) to FILE')
    .option('--user <name>', 'check permissions for this user, the one the agent runs as (default: the current user)')
    .addHelpText(
      'after',
      '\nExit code: 0 when no finding is an error (warnings allowed), 1 when one is, 2 on bad usage.\n\nExamples:\n  ' +
        'sudo -u tillbridge tillbridge-agent doctor --config /etc/tillbridge/agent.json\n  tillbridge-agent doctor ' +
        '--config agent.json --user tillbridge --bundle /tmp/tillbridge-bundle.tar.gz',
    )
    .action(doctorCmd);
}
