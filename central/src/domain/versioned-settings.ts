import type { HubStorage, Statement } from '../storage/index.js';
import { describeZodError, TbCodes, TbError } from '@tillbridge/shared';
import type { z } from 'zod';
import type { AuditLog } from './audit-log.js';
import { iso, type Clock } from './clock.js';

export interface Versioned<T> {
  /** Monotonic for a store: the newest version among the default and the store's override. */
  version: number;
  value: T;
  /** The store's override as stored (a partial), if any. */
  override?: Record<string, unknown>;
}

export interface VersionRecord {
  version: number;
  scope: string;
  actor: string;
  note: string | null;
  createdAt: string;
  body: unknown;
}

export interface VersionedSettingsOptions<T> {
  /** Table with columns id (the version), scope ('default' or 'store:<id>'), body, actor, note, created_at. */
  table: string;
  /** What the audit log calls a change (e.g. 'policy.set'). */
  action: string;
  full: z.ZodType<T>;
  patch: z.ZodType<Record<string, unknown>>;
  defaults: T;
  /** `base` with `patch` laid over it. */
  merge: (base: T, patch: Record<string, unknown>) => T;
}

/**
 * Settings with a default and per-store overrides, versioned: each change is a new row whose id
 * is the version, audited with the operator. A store's effective value is its override merged
 * over the default. Returns policies and sync settings are both kept this way.
 */
export class VersionedSettings<T> {
  private readonly latest: Statement;
  private readonly latestUpTo: Statement;
  private readonly newestAt: Statement;
  private readonly insert: Statement;
  private readonly history: Statement;
  private readonly historyAll: Statement;
  private readonly listeners: ((scope: string) => void)[] = [];

  constructor(
    private readonly storage: HubStorage,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly o: VersionedSettingsOptions<T>,
  ) {
    this.latest = storage.db.prepare(`SELECT id, body FROM ${o.table} WHERE scope = ? ORDER BY id DESC LIMIT 1`);
    this.latestUpTo = storage.db.prepare(
      `SELECT id, body FROM ${o.table} WHERE scope = ? AND id <= ? ORDER BY id DESC LIMIT 1`,
    );
    this.newestAt = storage.db.prepare(
      `SELECT MAX(id) AS id FROM ${o.table} WHERE scope IN ('default', ?) AND created_at <= ?`,
    );
    this.insert = storage.db.prepare(
      `INSERT INTO ${o.table} (scope, body, actor, note, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
    );
    this.history = storage.db.prepare(`SELECT * FROM ${o.table} WHERE scope = ? ORDER BY id DESC LIMIT ?`);
    this.historyAll = storage.db.prepare(`SELECT * FROM ${o.table} ORDER BY id DESC LIMIT ?`);
  }

  /** Hears which store changed ('default' for all), after the change committed. */
  onChange(listener: (scope: string) => void): void {
    this.listeners.push(listener);
  }

  defaults(): Versioned<T> {
    const d = this.latest.get('default') as { id: number; body: string } | undefined;
    return { version: d?.id ?? 0, value: d ? this.o.full.parse(JSON.parse(d.body)) : this.o.defaults };
  }

  effective(store: string): Versioned<T> {
    const base = this.defaults();
    const o = this.latest.get(`store:${store}`) as { id: number; body: string } | undefined;
    if (!o) return base;
    const override = this.o.patch.parse(JSON.parse(o.body));
    return { version: Math.max(base.version, o.id), value: this.o.merge(base.value, override), override };
  }

  /**
   * The store's effective value as it stood at `version` — what `effective(store)` answered right
   * after that change — or undefined when the store never held that version (another store's
   * change, or one that does not exist). Version 0 is the built-in defaults.
   */
  asOf(store: string, version: number): Versioned<T> | undefined {
    const d = this.latestUpTo.get('default', version) as { id: number; body: string } | undefined;
    const o = this.latestUpTo.get(`store:${store}`, version) as { id: number; body: string } | undefined;
    if (Math.max(d?.id ?? 0, o?.id ?? 0) !== version) return undefined;
    const base = d ? this.o.full.parse(JSON.parse(d.body)) : this.o.defaults;
    return { version, value: o ? this.o.merge(base, this.o.patch.parse(JSON.parse(o.body))) : base };
  }

  /** The version the store held at `atIso` (0: the built-in defaults, before any change). */
  versionAt(store: string, atIso: string): number {
    return (this.newestAt.get(`store:${store}`, atIso) as { id: number | null }).id ?? 0;
  }

  /**
   * Lays `patchRaw` over the default (store undefined) or the store's override (`replace`: instead of it). Returns the
   * new version.
   */
  set(
    store: string | undefined,
    patchRaw: unknown,
    actor: string,
    opts: { note?: string; replace?: boolean } = {},
  ): number {
    const parsed = this.o.patch.safeParse(patchRaw, { reportInput: true });
    if (!parsed.success)
      throw new TbError(TbCodes.INVALID, `not a valid change: ${describeZodError(parsed.error).join('; ')}`);
    const patch = parsed.data;
    const version = this.storage.tx(() => {
      let body: unknown;
      if (store === undefined) {
        body = this.o.merge(opts.replace ? this.o.defaults : this.defaults().value, patch);
      } else {
        const cur = this.latest.get(`store:${store}`) as { body: string } | undefined;
        const prior = cur && !opts.replace ? this.o.patch.parse(JSON.parse(cur.body)) : {};
        body = mergePatches(prior, patch);
        this.o.merge(this.defaults().value, body as Record<string, unknown>); // it must make a valid whole
      }
      const scope = store === undefined ? 'default' : `store:${store}`;
      const v = Number(
        (
          this.insert.get(scope, JSON.stringify(body), actor, opts.note ?? null, iso(this.clock.now())) as {
            id: number | string; // a PostgreSQL BIGINT comes as a string
          }
        ).id,
      );
      this.audit.append({
        actor,
        action: this.o.action,
        outcome: 'set',
        store: store ?? null,
        resource: `${this.o.table}:${scope}`,
        details: { version: v, change: patch, replace: Boolean(opts.replace), note: opts.note ?? null },
      });
      return v;
    });
    for (const l of this.listeners) l(store ?? 'default');
    return version;
  }

  list(store?: string, limit = 50): VersionRecord[] {
    const rows = (store === undefined ? this.historyAll.all(limit) : this.history.all(`store:${store}`, limit)) as {
      id: number;
      scope: string;
      actor: string;
      note: string | null;
      created_at: string;
      body: string;
    }[];
    return rows.map((r) => ({
      version: r.id,
      scope: r.scope,
      actor: r.actor,
      note: r.note,
      createdAt: r.created_at,
      body: JSON.parse(r.body) as unknown,
    }));
  }
}

export function mergePatches(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (v === undefined) continue;
    const cur = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)
        ? { ...cur, ...v }
        : v;
  }
  return out;
}
