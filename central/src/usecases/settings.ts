import type { Policy, SyncSettings } from '@tillbridge/shared';
import type { Managers } from '../domain/managers.js';
import type { Policies } from '../domain/policies.js';
import type { VersionedSettings } from '../domain/versioned-settings.js';
import type { AuditedWork } from './unit-of-work.js';

export interface SettingsChangeOptions {
  note?: string;
  replace?: boolean;
}

/** Who changes versioned settings, the default's (store undefined) or a store's, how, and why. */
export type SettingsChange = [actor: string, store: string | undefined, change: unknown, opts: SettingsChangeOptions];

export interface SettingsUseCaseDeps extends AuditedWork {
  policies: Pick<Policies, 'set' | 'effective' | 'defaultPolicy'>;
  syncConfig: Pick<VersionedSettings<SyncSettings>, 'set' | 'effective' | 'defaults'>;
  managers: Pick<Managers, 'set' | 'remove'>;
}

/**
 * Returns policies and sync settings (default and per store, versioned: each change a new version
 * and its audit entry, pushed to the agents once committed) and the managers who may override.
 */
export class SettingsUseCases {
  constructor(private readonly deps: SettingsUseCaseDeps) {}

  /**
   * A change to the default policy (store undefined) or a store's: the new version and the policy now in force there.
   */
  setPolicy(...change: SettingsChange): { version: number; policy: Policy } {
    const { policies } = this.deps;
    return this.change(change, policies, (store) => ({
      policy: store ? policies.effective(store).policy : policies.defaultPolicy().policy,
    }));
  }

  /**
   * A change to the default sync settings (store undefined) or a store's: the new version and the settings now in force
   * there.
   */
  setSyncSettings(...change: SettingsChange): { version: number; settings: SyncSettings } {
    const { syncConfig } = this.deps;
    return this.change(change, syncConfig, (store) => ({
      settings: store ? syncConfig.effective(store).value : syncConfig.defaults().value,
    }));
  }

  /** Versioned settings changed in one transaction: the new version, and what is in force there read in it. */
  private change<T>(
    [actor, store, change, opts]: SettingsChange,
    settings: Pick<VersionedSettings<unknown>, 'set'>,
    inForce: (store: string | undefined) => T,
  ): { version: number } & T {
    return this.deps.uow.tx(() => {
      const version = settings.set(store, change, actor, opts);
      return { version, ...inForce(store) };
    });
  }

  /** Adds a manager or changes their name and code. */
  setManager(actor: string, id: string, name: string, code: string): void {
    const { uow, managers, audit } = this.deps;
    uow.tx(() => {
      managers.set(id, name, code);
      audit.append({ actor, action: 'manager.set', outcome: 'set', resource: `manager:${id}`, details: { name } });
    });
  }

  /** Whether there was an active manager of that id to remove (nothing is audited when not). */
  removeManager(actor: string, id: string): boolean {
    const { uow, managers, audit } = this.deps;
    return uow.tx(() => {
      const ok = managers.remove(id);
      if (ok) audit.append({ actor, action: 'manager.remove', outcome: 'removed', resource: `manager:${id}` });
      return ok;
    });
  }
}
