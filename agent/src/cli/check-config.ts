import { isTbError, TbCodes } from '@tillbridge/shared';
import { loadAgentConfig, type AgentConfig } from '../config.js';
import { askRunningAgent, portsHeldBy } from '../status/status-client.js';
import { preflight, type Check } from './preflight.js';

/** What `tillbridge-agent check-config --json` prints. */
export interface ConfigReport {
  file: string;
  /** true when `run` has what it needs: no problem found */
  valid: boolean;
  store?: string;
  registers?: number;
  /** the hub's URL; with several (hub.urls), all of them, comma-separated, in the order they are tried */
  hub?: string;
  /** the running agent of this config, when one answered (its ports are not a conflict) */
  runningPid?: number;
  /** "key: what is wrong" */
  problems: string[];
  /** when the file itself is not valid: the loader's message (the problems, under one heading) */
  error?: string;
  warnings: string[];
  checks: Check[];
}

/**
 * Validates the config file (and the files it names), then checks what `run` will need from
 * this machine. Nothing is started; nothing is left behind.
 */
export async function checkConfig(file: string): Promise<ConfigReport> {
  let config: Readonly<AgentConfig>;
  try {
    config = loadAgentConfig(file);
  } catch (err) {
    if (!isTbError(err, TbCodes.CONFIG)) throw err;
    const problems = (err.details?.problems as string[] | undefined) ?? [err.message];
    return { file, valid: false, error: err.message, problems, warnings: [], checks: [] };
  }
  const running = await askRunningAgent(config);
  const checks = await preflight(config, running ? { heldPorts: portsHeldBy(running) } : {});
  const line = (c: Check): string => `${c.key}: ${c.message}`;
  const report: ConfigReport = {
    file,
    valid: !checks.some((c) => c.level === 'problem'),
    store: config.store,
    registers: config.registers.length,
    hub: config.hub.urls.join(', '),
    problems: checks.filter((c) => c.level === 'problem').map(line),
    warnings: checks.filter((c) => c.level === 'warning').map(line),
    checks,
  };
  if (running?.status.pid !== undefined) report.runningPid = running.status.pid;
  return report;
}

const LABEL: Record<Check['level'], string> = { ok: 'ok     ', warning: 'warning', problem: 'PROBLEM' };

/** The human report: the summary and every check on stdout; the problems, if any, for stderr. */
export function formatConfigReport(r: ConfigReport): { stdout: string; stderr: string } {
  if (r.error !== undefined) return { stdout: '', stderr: `error: ${r.error}\n` };
  const out = [
    `${r.file}: ${r.valid ? 'valid' : 'NOT READY'} (store ${r.store}, ${r.registers} register(s), hub ` +
      `${r.hub})${r.runningPid !== undefined ? `; its agent is running (pid ${r.runningPid})` : ''}`,
    ...r.checks.map((c) => `  ${LABEL[c.level]}  ${c.key}: ${c.message}`),
  ];
  const err = r.valid
    ? ''
    : `error: ${r.file}: ${r.problems.length} problem(s) \`run\` would fail on:\n  ${r.problems.join('\n  ')}\n`;
  return { stdout: `${out.join('\n')}\n`, stderr: err };
}
