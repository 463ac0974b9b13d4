import { statSync, statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * What `tillbridge-agent doctor` and `tillbridge-hub doctor` find, and how both print it
 * (docs/doctor.md). A finding names what was checked (`id`, stable, for scripts and support),
 * how it stands, what was seen, and, when something is wrong, what to do about it in words a
 * store's IT person can act on.
 */
export type DoctorLevel = 'ok' | 'warning' | 'error';

export interface DoctorFinding {
  /** Stable identifier of the check, e.g. "hub.reachable", "dataDir.mode". */
  id: string;
  level: DoctorLevel;
  /** What was seen. */
  message: string;
  /** What to do (warnings and errors). */
  action?: string;
}

/** Exit codes of both doctors: 0 when no finding is an error (warnings allowed), 1 when one is. */
export const DOCTOR_EXIT = { OK: 0, ERRORS: 1 } as const;

export function doctorExitCode(findings: readonly DoctorFinding[]): number {
  return findings.some((f) => f.level === 'error') ? DOCTOR_EXIT.ERRORS : DOCTOR_EXIT.OK;
}

/** What `--json` prints. */
export interface DoctorReport {
  tool: string;
  /** When it ran (the process's clock). */
  at: string;
  ok: boolean;
  counts: Record<DoctorLevel, number>;
  findings: DoctorFinding[];
}

export function doctorReport(tool: string, atMs: number, findings: DoctorFinding[]): DoctorReport {
  const counts = { ok: 0, warning: 0, error: 0 };
  for (const f of findings) counts[f.level]++;
  return { tool, at: new Date(atMs).toISOString(), ok: counts.error === 0, counts, findings };
}

const LABEL: Record<DoctorLevel, string> = { ok: 'ok     ', warning: 'WARNING', error: 'ERROR  ' };

/** The human report: one line a finding, its "what to do" under it, then a summary line. */
export function formatDoctorReport(r: DoctorReport): string {
  const lines: string[] = [];
  for (const f of r.findings) {
    lines.push(`${LABEL[f.level]}  ${f.id}: ${f.message}`);
    if (f.action && f.level !== 'ok') lines.push(`         what to do: ${f.action}`);
  }
  const { ok, warning, error } = r.counts;
  lines.push(
    '',
    `${r.tool} doctor: ${error} error(s), ${warning} warning(s), ${ok} ` +
      `ok${error > 0 ? '' : ' - nothing stops it from working'}`,
  );
  return `${lines.join('\n')}\n`;
}

/** Keys whose values are secrets wherever they appear in a config (compared lower case, without "_" and "-"). */
const SECRET_KEYS = [
  'apikey',
  'token',
  'accesstoken',
  'admintoken',
  'password',
  'passphrase',
  'secret',
  'key',
  'privatekey',
  'authorization',
  'cardkey',
];

export const REDACTED = '[redacted]';

/**
 * A copy of `value` with every secret replaced by "[redacted]": the values of keys that name a
 * secret (apiKey, token, password, secret…, but not keyFile and the like, which name a file), and
 * the password of any URL with credentials in it (postgres://user:pw@host).
 */
export function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const norm = k.toLowerCase().replace(/[_-]/g, '');
      out[k] =
        SECRET_KEYS.includes(norm) && v !== null && typeof v !== 'object' && typeof v !== 'boolean'
          ? REDACTED
          : redactSecrets(v);
    }
    return out;
  }
  if (typeof value === 'string') return redactUrlPassword(value);
  return value;
}

/** `scheme://user:password@host…` with the password replaced. */
export function redactUrlPassword(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@/\s]*@/gi, `$1${REDACTED}@`);
}

/** Where the data directory is or will be: it, or its nearest existing ancestor. */
function existingAncestor(path: string): string {
  let p = resolve(path);
  for (;;) {
    try {
      statSync(p);
      return p;
    } catch {
      if (dirname(p) === p) return p;
      p = dirname(p);
    }
  }
}

const MB = 1024 * 1024;
/** Free space below these: a warning, an error (the agent refuses sales it cannot write). */
export const DISK_WARN_BYTES = 1024 * MB;
export const DISK_ERROR_BYTES = 100 * MB;

/** The free space of the disk `dir` is on (or will be on) as a finding `id`. */
export function diskFinding(id: string, dir: string): DoctorFinding {
  const at = existingAncestor(dir);
  let s;
  try {
    s = statfsSync(at);
  } catch (err) {
    return {
      id,
      level: 'warning',
      message:
        `the free space where ${dir} is cannot be read ` +
        `(${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      action: 'check the disk by hand',
    };
  }
  const free = s.bavail * s.bsize;
  const total = s.blocks * s.bsize;
  const text = `${(free / MB).toFixed(0)} MB free of ${(total / MB).toFixed(0)} MB where ${dir} is`;
  const action =
    'free space on that disk (old logs, downloads), or move the data directory to a larger one: the ' +
    'database grows with every sale while the hub cannot be reached';
  if (free < DISK_ERROR_BYTES) return { id, level: 'error', message: text, action };
  if (free < DISK_WARN_BYTES) return { id, level: 'warning', message: text, action };
  return { id, level: 'ok', message: text };
}

/**
 * The values `redactSecrets` would replace (at least 4 characters long), to scrub them from any other text too (logs).
 */
export function secretValues(value: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const v of value) secretValues(v, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const norm = k.toLowerCase().replace(/[_-]/g, '');
      if (SECRET_KEYS.includes(norm) && (typeof v === 'string' || typeof v === 'number') && String(v).length >= 4)
        out.add(String(v));
      else secretValues(v, out);
    }
  }
  return out;
}

/** `text` with every one of `secrets` and every URL password replaced by "[redacted]". */
export function scrubText(text: string, secrets: ReadonlySet<string>): string {
  let out = redactUrlPassword(text);
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) out = out.split(s).join(REDACTED);
  return out;
}
