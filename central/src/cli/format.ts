import type * as z from 'zod/mini';
import { TbCodes, TbError } from '@tillbridge/shared/errors';
import { formatMoney } from '@tillbridge/shared/money';
import type { agentView } from '../http/contract/stores.js';

/** What the hub says of a connected agent (its hello): status and stores list show it. */
export type AgentView = z.output<typeof agentView>;

/** 3723000 → "1h 2m"; 90061000 → "1d 1h". */
export function uptime(ms: number | null): string {
  if (ms === null) return '-';
  const m = Math.floor(ms / 60_000);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** One agent in a line: version (flagged when below the minimum), protocol, OS, uptime. */
export function describeAgentLine(a: AgentView | null, min: string | null | undefined): string {
  if (!a) return '-';
  const version = a.software ?? 'unknown version';
  const flag = a.belowMinimum ? ` BELOW MINIMUM ${min ?? ''}`.trimEnd() : '';
  const os = a.os ? `${a.os.platform} ${a.os.release} ${a.os.arch}` : 'OS unknown';
  return `${version}${flag} (protocol ${a.protocol}), ${os}, up ${uptime(a.uptimeMs)}`;
}

/** A plain text table: a header row, then one row per record, columns padded to fit. */
export function table(headers: string[], rows: (string | number | null | undefined | boolean)[][]): string {
  const cells = rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]?.length ?? 0)));
  const line = (r: string[]): string =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), ...cells.map(line)].join('\n');
}

/** An option's duration (`--grace 24h`) in milliseconds; one that does not parse is a usage error naming the option. */
export function durationOption(value: string, option: string): number {
  try {
    return parseDuration(value);
  } catch (err) {
    throw new TbError(TbCodes.INVALID, `${option}: ${(err as Error).message}`);
  }
}

const DURATION_UNITS: Partial<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "15m", "900s", "2h", "1d" or plain milliseconds → milliseconds. */
export function parseDuration(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(v.trim());
  if (!m) throw new Error(`expected a duration such as 15m, 900s or 2h, got "${v}"`);
  const n = Number(m[1]);
  const unit = DURATION_UNITS[m[2] ?? 'ms'] ?? 1;
  return Math.round(n * unit);
}

/** `COUNT/DURATION` (`10/5m`): how many in how long — a burst of COUNT, refilled evenly over DURATION. */
export function parseRate(v: string): { count: number; periodMs: number } {
  const m = /^(\d+)\/(.+)$/.exec(v.trim());
  const count = m ? Number(m[1]) : NaN;
  let periodMs = NaN;
  try {
    if (m?.[2] !== undefined) periodMs = parseDuration(m[2]);
  } catch {
    // said below, with the whole value
  }
  if (!m || !Number.isSafeInteger(count) || count < 1 || count > 1_000_000 || !(periodMs >= 1000)) {
    throw new Error(`expected COUNT/DURATION such as 10/5m (a count from 1, a duration from 1s), got "${v}"`);
  }
  return { count, periodMs };
}

/**
 * How long ago `iso` was, for the operator. On the operator's clock (the system's): the command
 * line runs on the operator's machine and only sees the hub's times, which a hub in service keeps
 * on the system's clock too; `now` is for tests.
 */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const ms = now - Date.parse(iso);
  if (ms < 2000) return 'just now';
  if (ms < 120_000) return `${Math.round(ms / 1000)} s ago`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min ago`;
  if (ms < 172_800_000) return `${Math.round(ms / 3_600_000)} h ago`;
  return `${Math.round(ms / 86_400_000)} d ago`;
}

/**
 * An amount of minor units for people: in the currency's decimals, or said to be minor units when the currency is not
 * known.
 */
export function money(minor: number | null | undefined, currency: string | null | undefined): string {
  if (minor === null || minor === undefined) return '-';
  return currency ? formatMoney(minor, currency) : `${minor} (minor units)`;
}

/** A command's help epilogue: its example command lines under an "Example:" or "Examples:" heading. */
export function examplesHelp(...lines: string[]): string {
  const heading = lines.length === 1 ? 'Example' : 'Examples';
  return `\n${heading}:\n${lines.map((l) => `  ${l}`).join('\n')}`;
}
