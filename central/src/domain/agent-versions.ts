import { TbCodes, TbError } from '@tillbridge/shared';
import type { HubStorage, Statement } from '../storage/sql.js';
import type { AgentInfo } from '../sync/presence.js';

/** The `meta` key holding the lowest agent version the operator wants (docs/upgrade.md). */
export const MIN_AGENT_VERSION_KEY = 'min_agent_version';

const VERSION = /^(\d{1,6})\.(\d{1,6})\.(\d{1,6})$/;

/** "0.2.0" → [0, 2, 0]; undefined when it is not MAJOR.MINOR.PATCH. */
export function parseVersion(v: string): [number, number, number] | undefined {
  const m = VERSION.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

/**
 * The version in an agent's `software` ("tillbridge-agent/0.1.0" → "0.1.0"; a pre-release or build suffix is dropped).
 */
export function agentVersionOf(software: string | undefined): string | undefined {
  const m = /\/v?(\d+\.\d+\.\d+)/.exec(software ?? '');
  return m?.[1];
}

/** Whether `version` is below `min` (false when either is unknown: only a known version is flagged). */
export function belowVersion(version: string | undefined, min: string | null): boolean {
  const a = version === undefined ? undefined : parseVersion(version);
  const b = min === null ? undefined : parseVersion(min);
  if (!a || !b) return false;
  for (let i = 0; i < 3; i++) {
    const mine = a[i] ?? 0;
    const least = b[i] ?? 0;
    if (mine !== least) return mine < least;
  }
  return false;
}

/**
 * What `status` and `stores list` show of a connected agent: its version, OS, uptime, protocol, and whether it is below
 * the minimum.
 */
export function describeAgent(
  info: AgentInfo | undefined,
  min: string | null,
  now: number,
): Record<string, unknown> | null {
  if (!info) return null;
  const version = agentVersionOf(info.software);
  return {
    software: info.software ?? null,
    version: version ?? null,
    os: info.os ?? null,
    startedAt: info.startedAt !== undefined ? new Date(info.startedAt).toISOString() : null,
    uptimeMs: info.startedAt !== undefined ? Math.max(0, now - info.startedAt) : null,
    protocol: info.protocol,
    belowMinimum: belowVersion(version, min),
  };
}

/**
 * The lowest agent version the operator wants (`tillbridge-hub stores min-version`): agents below
 * it are flagged in `status` and `stores list` (they keep working: only the protocol refuses).
 * Kept in the hub's `meta` table, so every hub process on one database reads the same.
 */
export class AgentVersionFloor {
  private readonly read: Statement;
  private readonly write: Statement;
  private readonly remove: Statement;

  constructor(storage: HubStorage) {
    this.read = storage.db.prepare(`SELECT value FROM meta WHERE key = ?`);
    this.write = storage.db.prepare(
      `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
    );
    this.remove = storage.db.prepare(`DELETE FROM meta WHERE key = ?`);
  }

  get(): string | null {
    return (this.read.get(MIN_AGENT_VERSION_KEY) as { value: string } | undefined)?.value ?? null;
  }

  /** Sets (or, with null, clears) the minimum; inside the caller's transaction. */
  set(version: string | null): void {
    if (version === null) {
      this.remove.run(MIN_AGENT_VERSION_KEY);
      return;
    }
    if (!parseVersion(version))
      throw new TbError(
        TbCodes.INVALID,
        `version: expected MAJOR.MINOR.PATCH (e.g. 0.2.0), got ${JSON.stringify(version)}`,
      );
    this.write.run(MIN_AGENT_VERSION_KEY, version);
  }
}
