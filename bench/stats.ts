import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

/** This machine, in one line: CPUs, memory, Node, platform. */
export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'cpu';
  return (
    `${cpus().length} × ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, ` +
    `Node ${process.version}, ${process.platform}`
  );
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? NaN;
}

export interface Summary {
  n: number;
  p50: number;
  p99: number;
  mean: number;
}

export function summarize(samples: number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

export const ms = (v: number): string => `${v.toFixed(2)} ms`;

/** CPU time a process has used (user + system, all its threads), ms; Linux. */
export function cpuMsOf(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return ((Number(rest[11]) + Number(rest[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/** A child process's pid; throws if it did not start. */
export function pidOf(proc: ChildProcess): number {
  if (proc.pid === undefined) throw new Error('a child process of the benchmark did not start');
  return proc.pid;
}
