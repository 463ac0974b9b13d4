import { TbCodes, TbError } from '@tillbridge/shared';
import type { Credentials } from '../auth/credentials.js';
import type { KeyRotation, KeySchedule } from '../domain/key-rotation.js';
import type { Stores } from '../domain/stores.js';
import type { AgentVersionFloor } from '../domain/agent-versions.js';
import type { AuditedWork } from './unit-of-work.js';

export interface StoreUseCaseDeps extends AuditedWork {
  stores: Pick<Stores, 'get' | 'create'>;
  credentials: Pick<Credentials, 'createApiKey'>;
  keys: Pick<KeyRotation, 'rotate' | 'revoke' | 'schedule' | 'unschedule'>;
  agentVersions: Pick<AgentVersionFloor, 'get' | 'set'>;
}

/** Stores and their API keys (rotation, schedules, revocation): each change one transaction with its audit entry. */
export class StoreUseCases {
  constructor(private readonly deps: StoreUseCaseDeps) {}

  /** A new store and its first API key (shown once, in the answer). */
  create(actor: string, id: string, name: string): { store: string; name: string; apiKey: string } {
    const { uow, stores, credentials, audit } = this.deps;
    return uow.tx(() => {
      if (stores.get(id)) throw new TbError(TbCodes.CONFLICT, `store ${id} already exists`);
      stores.create(id, name);
      const apiKey = credentials.createApiKey(id);
      audit.append({
        actor,
        action: 'store.create',
        outcome: 'created',
        store: id,
        resource: `store:${id}`,
        details: { name },
      });
      return { store: id, name, apiKey };
    });
  }

  /** The lowest agent version wanted (null: none): agents below it are flagged; audited like other config changes. */
  setMinAgentVersion(
    actor: string,
    version: string | null,
  ): { minAgentVersion: string | null; previous: string | null } {
    const { uow, agentVersions, audit } = this.deps;
    return uow.tx(() => {
      const previous = agentVersions.get();
      agentVersions.set(version);
      audit.append({
        actor,
        action: 'config.min_agent_version',
        outcome: 'updated',
        resource: 'hub config:min_agent_version',
        details: { from: previous, to: version },
      });
      return { minAgentVersion: version, previous };
    });
  }

  /**
   * A new key for the store, the old ones working `graceMs` longer, and its secret (shown once).
   * The secret is the one the rotation made, not read back: with several hub processes, the one
   * holding the agent may deliver it and see it confirmed (which wipes the sealed copy) first.
   */
  rotateKey(actor: string, store: string, graceMs: number): { id: string; oldExpireAt: string; apiKey: string } {
    return this.deps.uow.tx(() => {
      const r = this.deps.keys.rotate(store, graceMs, actor);
      return { id: r.id, oldExpireAt: r.oldExpireAt, apiKey: r.secret };
    });
  }

  revokeKey(actor: string, store: string, keyId: string): void {
    this.deps.uow.tx(() => this.deps.keys.revoke(store, keyId, actor));
  }

  scheduleKeys(actor: string, store: string, everyMs: number, graceMs: number): KeySchedule {
    return this.deps.uow.tx(() => this.deps.keys.schedule(store, everyMs, graceMs, actor));
  }

  /** Whether there was a schedule to remove. */
  unscheduleKeys(actor: string, store: string): boolean {
    return this.deps.uow.tx(() => this.deps.keys.unschedule(store, actor));
  }
}
