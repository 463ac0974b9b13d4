import { readFileSync } from 'node:fs';
import { arch, platform, release } from 'node:os';
import { formatDoctorReport, type DoctorReport } from './doctor.js';
import type { TarEntry } from './tar-gz.js';

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
