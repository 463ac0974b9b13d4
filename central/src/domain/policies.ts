import {
  DEFAULT_POLICY,
  mergePolicy,
  PolicyPatchSchema,
  PolicySchema,
  type Policy,
  type PolicyPatch,
} from '@tillbridge/shared';
import type { HubStorage } from '../storage/index.js';
import type { AuditLog } from './audit-log.js';
import type { Clock } from './clock.js';
import { VersionedSettings, type VersionRecord } from './versioned-settings.js';

export interface EffectivePolicy {
  version: number;
  policy: Policy;
  /** The store's override as stored (a partial policy), if any. */
  override?: PolicyPatch;
}

export type PolicyVersion = VersionRecord;

/** The default returns policy and per-store overrides, versioned (docs/returns-policy.md). */
export class Policies {
  private readonly v: VersionedSettings<Policy>;

  constructor(s: HubStorage, audit: AuditLog, clock: Clock) {
    this.v = new VersionedSettings<Policy>(s, audit, clock, {
      table: 'policies',
      action: 'policy.set',
      full: PolicySchema,
      patch: PolicyPatchSchema,
      defaults: DEFAULT_POLICY,
      merge: (base, patch) => mergePolicy(base, patch),
    });
  }

  onChange(listener: (scope: string) => void): void {
    this.v.onChange(listener);
  }

  effective(store: string): EffectivePolicy {
    const e = this.v.effective(store);
    return e.override
      ? { version: e.version, policy: e.value, override: e.override }
      : { version: e.version, policy: e.value };
  }

  defaultPolicy(): EffectivePolicy {
    const d = this.v.defaults();
    return { version: d.version, policy: d.value };
  }

  /**
   * The store's policy as it stood at `version` (see VersionedSettings.asOf), or undefined when the store never held
   * it.
   */
  asOf(store: string, version: number): EffectivePolicy | undefined {
    const e = this.v.asOf(store, version);
    return e && { version: e.version, policy: e.value };
  }

  /** The store's policy as it stood at `atIso`, by the hub's record of when each version was set. */
  inForceAt(store: string, atIso: string): EffectivePolicy {
    const version = this.v.versionAt(store, atIso);
    const policy = this.asOf(store, version);
    // versionAt names a version the store held, so asOf finds it
    if (!policy) throw new Error(`policy version ${version} of store ${store} not found`);
    return policy;
  }

  /** A change to the default policy or a store's (see `VersionedSettings.set`); returns the new version. */
  set(...change: Parameters<VersionedSettings<Policy>['set']>): number {
    return this.v.set(...change);
  }

  list(store?: string, limit = 50): PolicyVersion[] {
    return this.v.list(store, limit);
  }
}
