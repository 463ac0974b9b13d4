import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { arch, platform, release } from 'node:os';
import { doctorExitCode, formatDoctorReport, scrubText, type DoctorReport } from './doctor.js';
import { tarGz, type TarEntry } from './tar-gz.js';

/** The folder every entry of a support bundle is in. */
const DIR = 'tillbridge-bundle';
/** How much of each log file a support bundle takes: its end. */
const LOG_TAIL_BYTES = 2 * 1024 * 1024;

/** `doctor`'s findings on stdout: as JSON with --json, else as text. */
export function printDoctorReport(report: DoctorReport, json: boolean | undefined): void {
  process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : formatDoctorReport(report));
}

/** A support bundle's report: doctor.json and doctor.txt (as printed). */
export function reportEntries(report: DoctorReport): TarEntry[] {
  return [
    { name: `${DIR}/doctor.json`, data: `${JSON.stringify(report, null, 2)}\n` },
    { name: `${DIR}/doctor.txt`, data: formatDoctorReport(report) },
  ];
}

/** A support bundle's versions.json: the program's software version, Node's, the OS, then what `more` adds. */
export function versionsEntry(software: string, more: Record<string, unknown>): TarEntry {
  const os = { platform: platform(), release: release(), arch: arch() };
  return {
    name: `${DIR}/versions.json`,
    data: `${JSON.stringify({ tillbridge: software, node: process.version, os, ...more }, null, 2)}\n`,
  };
}

/**
 * A support bundle's logs: the end of the log file and of its rotated copy (`.1`), each that can be read, as
 * logs/<program>.log and logs/<program>.1.log.
 */
export function logTailEntries(logFile: string, program: string, max = LOG_TAIL_BYTES): TarEntry[] {
  const entries: TarEntry[] = [];
  for (const [i, file] of [logFile, `${logFile}.1`].entries()) {
    try {
      const b = readFileSync(file);
      const data = b.subarray(Math.max(0, b.length - max)).toString('utf8');
      entries.push({ name: `${DIR}/logs/${program}${i === 0 ? '' : '.1'}.log`, data });
    } catch {
      /* no such file, or not readable: left out */
    }
  }
  return entries;
}

/** What a program puts in its support bundle besides the findings: versions, its own files, its log's end. */
export interface SupportBundle {
  /** versions.json: the program's software version, then what else it names (schema versions, its config file) */
  software: string;
  versions: Record<string, unknown>;
  /** the program's own files, by their name in the bundle's folder (`config.json`, `data-dir.txt`, …) */
  files: Record<string, string>;
  /** the log file whose end goes in, as logs/<program>.log */
  log: { file: string; program: string } | undefined;
  /** secret values taken out of every file wherever they appear (URL passwords always are) */
  secrets: ReadonlySet<string>;
}

/** A support bundle (.tar.gz): the findings, versions.json, the program's files and its log's end, all scrubbed. */
export function supportBundle(report: DoctorReport, b: SupportBundle, nowMs: number): Buffer {
  const entries: TarEntry[] = [
    ...reportEntries(report),
    versionsEntry(b.software, b.versions),
    ...Object.entries(b.files).map(([name, data]) => ({ name: `${DIR}/${name}`, data })),
    ...(b.log ? logTailEntries(b.log.file, b.log.program) : []),
  ];
  return tarGz(
    entries.map((e) => ({ ...e, data: scrubText(String(e.data), b.secrets) })),
    nowMs,
  );
}

/**
 * How both doctors end: the findings printed (as JSON with --json), the support bundle written to the file --bundle
 * names (mode 0600) when there is one, and the exit code set from the findings. A --bundle that names a directory
 * is a usage error (exit 2); one that cannot be written exits 1.
 */
export async function finishDoctor(
  report: DoctorReport,
  opts: { json?: boolean; bundle?: string },
  bundle: () => Buffer | Promise<Buffer>,
): Promise<void> {
  printDoctorReport(report, opts.json);
  if (opts.bundle) await writeBundle(opts.bundle, bundle);
  process.exitCode = doctorExitCode(report.findings);
}

async function writeBundle(file: string, bundle: () => Buffer | Promise<Buffer>): Promise<void> {
  if (existsSync(file) && statSync(file).isDirectory()) {
    process.stderr.write(
      `error: --bundle ${file} is a directory: name the file to write (e.g. ${file}/tillbridge-bundle.tar.gz)\n`,
    );
    process.exit(2);
  }
  try {
    writeFileSync(file, await bundle(), { mode: 0o600 });
  } catch (err) {
    const why =
      (err as NodeJS.ErrnoException).code ??
      String((err as Partial<Error>).message)
        .trim()
        .split('\n')[0];
    process.stderr.write(`error: cannot write --bundle ${file}: ${why}\n`);
    process.exit(1);
  }
  process.stderr.write(
    `support bundle written to ${file} (secrets replaced by "[redacted]"; look inside with: tar tzf ${file})\n`,
  );
}
