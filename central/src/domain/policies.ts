import type { Statement } from 'better-sqlite3';
import { DEFAULT_POLICY, mergePolicy, PolicyPatchSchema, PolicySchema, describeZodError, TbCodes, TbError, type Policy, type PolicyPatch } from '@tillbridge/shared';
import type { HubStorage } from '../storage/sqlite.js';
import type { AuditLog } from './audit-log.js';
import { iso, type Clock } from './clock.js';

export interface EffectivePolicy {
  /** Monotonic for a store: the newest version among the default and the store's override. */
  version: number;
  policy: Policy;
  /** The store's override as stored (a partial policy), if any. */
  override?: PolicyPatch;
}

export interface PolicyVersion {
  version: number;
  scope: string;
  actor: string;
  note: string | null;
  createdAt: string;
  body: unknown;
}

/**
 * The default returns policy and per-store overrides, versioned: each change is a new row whose
 * id is the version. A store's effective policy is its override merged over the default.
 */
export class Policies {
  private readonly latest: Statement;
  private readonly insert: Statement;
  private readonly history: Statement;
  private readonly historyAll: Statement;
  private listener: ((scope: string) => void) | undefined;

  constructor(private readonly s: HubStorage, private readonly audit: AuditLog, private readonly clock: Clock) {
    this.latest = s.db.prepare(`SELECT id, body FROM policies WHERE scope = ? ORDER BY id DESC LIMIT 1`);
    this.insert = s.db.prepare(`INSERT INTO policies (scope, body, actor, note, created_at) VALUES (?, ?, ?, ?, ?)`);
    this.history = s.db.prepare(`SELECT * FROM policies WHERE scope = ? ORDER BY id DESC LIMIT ?`);
    this.historyAll = s.db.prepare(`SELECT * FROM policies ORDER BY id DESC LIMIT ?`);
  }

  /** Hears which scope changed ('default' or a store id), after the change committed. */
  onChange(listener: (scope: string) => void): void {
    this.listener = listener;
  }

  effective(store: string): EffectivePolicy {
    const d = this.latest.get('default') as { id: number; body: string } | undefined;
    const o = this.latest.get(`store:${store}`) as { id: number; body: string } | undefined;
    const base = d ? PolicySchema.parse(JSON.parse(d.body)) : DEFAULT_POLICY;
    if (!o) return { version: d?.id ?? 0, policy: base };
    const override = PolicyPatchSchema.parse(JSON.parse(o.body));
    return { version: Math.max(d?.id ?? 0, o.id), policy: mergePolicy(base, override), override };
  }

  defaultPolicy(): EffectivePolicy {
    const d = this.latest.get('default') as { id: number; body: string } | undefined;
    return { version: d?.id ?? 0, policy: d ? PolicySchema.parse(JSON.parse(d.body)) : DEFAULT_POLICY };
  }

  /**
   * Lays `patch` over the default (store undefined) or over the store's current override
   * (`replace`: instead of it). Returns the new version. Audited with the operator.
   */
  set(store: string | undefined, patchRaw: unknown, actor: string, opts: { note?: string; replace?: boolean } = {}): number {
    const parsed = PolicyPatchSchema.safeParse(patchRaw, { reportInput: true });
    if (!parsed.success) throw new TbError(TbCodes.INVALID, `not a valid policy change: ${describeZodError(parsed.error).join('; ')}`);
    const patch = parsed.data;
    const version = this.s.tx(() => {
      let body: unknown;
      if (store === undefined) {
        const base = opts.replace ? DEFAULT_POLICY : this.defaultPolicy().policy;
        body = mergePolicy(base, patch);
      } else {
        const cur = this.latest.get(`store:${store}`) as { body: string } | undefined;
        const prior = cur && !opts.replace ? (PolicyPatchSchema.parse(JSON.parse(cur.body)) as PolicyPatch) : {};
        body = mergePatches(prior, patch);
        mergePolicy(this.defaultPolicy().policy, body as PolicyPatch); // it must make a valid policy
      }
      const scope = store === undefined ? 'default' : `store:${store}`;
      const info = this.insert.run(scope, JSON.stringify(body), actor, opts.note ?? null, iso(this.clock.now()));
      const v = Number(info.lastInsertRowid);
      this.audit.append({ actor, action: 'policy.set', outcome: 'set', store: store ?? null, resource: `policy:${scope}`, details: { version: v, change: patch, replace: Boolean(opts.replace), note: opts.note ?? null } });
      return v;
    });
    this.listener?.(store ?? 'default');
    return version;
  }

  list(store?: string, limit = 50): PolicyVersion[] {
    const rows = (store === undefined ? this.historyAll.all(limit) : this.history.all(`store:${store}`, limit)) as { id: number; scope: string; actor: string; note: string | null; created_at: string; body: string }[];
    return rows.map((r) => ({ version: r.id, scope: r.scope, actor: r.actor, note: r.note, createdAt: r.created_at, body: JSON.parse(r.body) as unknown }));
  }
}

function mergePatches(a: PolicyPatch, b: PolicyPatch): PolicyPatch {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur) ? { ...(cur as object), ...v } : v;
  }
  return out as PolicyPatch;
}
