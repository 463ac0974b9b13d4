import { TbCodes, TbError, type EnrollAnswer } from '@tillbridge/shared';
import { rateLimited, type Gate } from '../auth/gate.js';
import type { KeyRotation } from '../domain/key-rotation.js';
import type { Stores } from '../domain/stores.js';
import type { Enrollments, EnrollmentView } from '../enrollment/enrollments.js';

export interface EnrollmentUseCaseDeps {
  enrollments: Pick<Enrollments, 'create' | 'use' | 'codes'>;
  stores: Pick<Stores, 'get'>;
  keys: Pick<KeyRotation, 'dropped'>;
  gate: Pick<Gate, 'failed'>;
}

/** Enrollment codes: made by an admin (`stores enroll`), traded once by a store's agent (`tillbridge-agent enroll`). */
export class EnrollmentUseCases {
  constructor(private readonly deps: EnrollmentUseCaseDeps) {}

  create(actor: string, store: string, ttlMs: number): { id: string; code: string; store: string; expiresAt: string } {
    if (!this.deps.stores.get(store)) throw new TbError(TbCodes.NOT_FOUND, `store ${store} not found`);
    return this.deps.enrollments.create(store, ttlMs, actor);
  }

  list(store?: string): EnrollmentView[] {
    return this.deps.enrollments.codes(store);
  }

  /**
   * Trades a code for the store's new API key (the store's other keys end, their connections are closed); the route
   * adds the hub's address and certificate. A code that does not work counts as a failed authentication of `source`
   * (the gate: past its limit the source is blocked, and this and its next tries are answered 429).
   */
  use(source: string, code: unknown): Pick<EnrollAnswer, 'store' | 'apiKey' | 'keyId'> {
    let r: ReturnType<Enrollments['use']>;
    try {
      r = this.deps.enrollments.use(typeof code === 'string' ? code : '', source);
    } catch (err) {
      if (!(err instanceof TbError) || err.code !== TbCodes.UNAUTHORIZED) throw err;
      const wait = this.deps.gate.failed(source, 'enrollment code');
      throw wait > 0 ? rateLimited('too many failed attempts from this address; try again later', wait) : err;
    }
    this.deps.keys.dropped(r.store, r.ended);
    return { store: r.store, apiKey: r.apiKey, keyId: r.keyId };
  }
}
