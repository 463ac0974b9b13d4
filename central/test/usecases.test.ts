import { describe, expect, it } from 'vitest';
import type { AuditEntry, AuditInput, AuditLog } from '../src/domain/audit-log.js';
import { InventoryUseCases, wireUseCases } from '../src/usecases/index.js';
import { AgentUseCases } from '../src/usecases/agents.js';
import { hubForEachTest } from './helpers.js';

/**
 * The use-case layer (central/src/usecases/): each change one unit of work — the change, its
 * audit entry and its after-commit effects together, or none of them.
 */
const t = hubForEachTest({ S1: 'One' });

/**
 * The hub's use cases wired as openHub wires them, but to an audit log whose disk is full: every append fails
 * (after the use case changed what it changes).
 */
function failingUseCases(): ReturnType<typeof wireUseCases> {
  const audit: AuditLog = Object.create(t.hub.audit) as AuditLog;
  audit.append = (): never => {
    throw new Error('audit: disk full');
  };
  return wireUseCases({ ...t.hub, audit });
}

const synced = (): number => t.hub.storage.commits().full;
const lastAudit = (): AuditEntry => t.hub.audit.tail(1)[0]!;

describe('a use case that fails mid-way', () => {
  it('inventory set: leaves the stock as it was and announces nothing to the agents', () => {
    const heard: string[][] = [];
    t.hub.feed.onInventory((_store, skus) => heard.push(skus));
    t.hub.useCases.inventory.setOnHand('admin:a1', 'S1', 'A', 5);
    expect(heard).toEqual([['A']]); // the push: after the commit
    const failing = failingUseCases().inventory;
    expect(() => failing.setOnHand('admin:a1', 'S1', 'A', 9)).toThrow('audit: disk full');
    expect(t.hub.ledger.get('S1', 'A')?.onHand).toBe(5000);
    expect(heard).toEqual([['A']]); // no after-commit effect of the rolled-back one
  });

  it('store create: leaves no store and no API key behind', () => {
    const failing = failingUseCases().stores;
    expect(() => failing.create('admin:a1', 'S2', 'Two')).toThrow('audit: disk full');
    expect(t.hub.stores.get('S2')).toBeUndefined();
    expect(t.hub.queries.credentials.listKeys('S2')).toEqual([]);
    // and the real one makes both, once
    const made = t.hub.useCases.stores.create('admin:a1', 'S2', 'Two');
    expect(made.apiKey).toMatch(/\S{16,}/);
    expect(t.hub.credentials.checkApiKey('S2', made.apiKey).store).toBe('S2');
    expect(() => t.hub.useCases.stores.create('admin:a1', 'S2', 'Two')).toThrow('store S2 already exists');
  });

  it('manager set: leaves no manager who could override', () => {
    const failing = failingUseCases().settings;
    expect(() => failing.setManager('admin:a1', 'm1', 'Mia', '4711-code')).toThrow('audit: disk full');
    expect(t.hub.managers.list()).toEqual([]);
    expect(t.hub.managers.check('m1', '4711-code')).toBe(false);
  });

  it('admin token create: no token that works', () => {
    const failing = failingUseCases().tokens;
    const before = t.hub.credentials.listAdminTokens().length;
    expect(() => failing.create('admin:a1', 'operator', 'night shift')).toThrow('audit: disk full');
    expect(t.hub.credentials.listAdminTokens()).toHaveLength(before);
  });
});

describe('each change is one unit of work with its audit entry', () => {
  it('writes the change and its audit entry in the same transaction (one synced commit)', () => {
    const txOf: Record<string, number | undefined> = {};
    const uc = new InventoryUseCases({
      uow: t.hub.storage,
      ledger: { setOnHand: (...a) => ((txOf.ledger = t.hub.storage.transactionId()), t.hub.ledger.setOnHand(...a)) },
      audit: { append: (e: AuditInput) => ((txOf.audit = t.hub.storage.transactionId()), t.hub.audit.append(e)) },
    });
    const before = synced();
    expect(uc.setOnHand('admin:a1', 'S1', 'B', 2.5)).toEqual({ store: 'S1', sku: 'B', onHand: 2.5, delta: 2.5 });
    expect(txOf.ledger).toBeDefined();
    expect(txOf.audit).toBe(txOf.ledger);
    expect(synced() - before).toBe(1);
    expect(lastAudit()).toMatchObject({ action: 'inventory.set', actor: 'admin:a1', resource: 'inventory:S1/B' });
  });

  it('the admin use cases: one synced commit each, audited as before', () => {
    const uc = t.hub.useCases;
    const cases: [string, () => unknown, string][] = [
      ['store.create', () => uc.stores.create('admin:a1', 'S3', 'Three'), 'store:S3'],
      ['token.create', () => uc.tokens.create('admin:a1', 'operator', 'night'), 'admin-token:'],
      ['manager.set', () => uc.settings.setManager('admin:a1', 'm2', 'Max', 'code-1234'), 'manager:m2'],
      ['manager.remove', () => expect(uc.settings.removeManager('admin:a1', 'm2')).toBe(true), 'manager:m2'],
      [
        'policy.set',
        () =>
          expect(uc.settings.setPolicy('admin:a1', 'S1', { returnWindowDays: 14 }, {}).policy.returnWindowDays).toBe(
            14,
          ),
        'policies:store:S1',
      ],
      ['key.rotate', () => expect(uc.stores.rotateKey('admin:a1', 'S1', 1000).apiKey).toBeDefined(), 'api-key:'],
      ['key.schedule', () => uc.stores.scheduleKeys('admin:a1', 'S1', 86_400_000, 1000), 'api-keys:S1'],
      [
        'webhook.add',
        () => uc.webhooks.add('admin:a1', { url: 'https://example.test/hook', events: ['return.exception'] }),
        'webhook:',
      ],
      ['audit.checkpoint', () => uc.audit.checkpoint('admin:a1'), 'audit'],
    ];
    for (const [action, run, resource] of cases) {
      const before = synced();
      run();
      expect({ action, commits: synced() - before }).toEqual({ action, commits: 1 });
      const e = t.hub.audit.tail(5).find((x) => x.action === action);
      expect(e, action).toBeDefined();
      expect(e!.actor).toBe('admin:a1');
      expect((e!.resource ?? '').startsWith(resource), `${action}: ${e!.resource}`).toBe(true);
    }
    // removing a manager who is not there changes nothing and audits nothing
    const before = synced();
    const n = t.hub.audit.tail(1)[0]!.id;
    expect(uc.settings.removeManager('admin:a1', 'nobody')).toBe(false);
    expect(t.hub.audit.tail(1)[0]!.id).toBe(n);
    expect(synced() - before).toBeLessThanOrEqual(1);
    expect(t.hub.auditTrail.verify().ok).toBe(true);
  });
});

describe("an agent's connection (AgentUseCases)", () => {
  it(
    'connect: a new incarnation gets its cursor; a database behind what the hub applied is recorded and ' + 'refused',
    () => {
      const agents = t.hub.useCases.agents;
      expect(agents.connect('S1', 'ag-1', 'inc-1', 0)).toEqual({ kind: 'accepted', lastSeq: 0 });
      expect(t.hub.cursors.cursor('ag-1')).toMatchObject({ store: 'S1', incarnation: 'inc-1' });
      expect(t.hub.presence.get('S1').connected).toBe(true);
      t.hub.cursors.setCursor('ag-1', 'inc-1', 'S1', 7);
      agents.disconnected('S1');
      expect(agents.connect('S1', 'ag-1', 'inc-1', 3)).toEqual({ kind: 'behind', applied: 7 });
      expect(t.hub.presence.get('S1').connected).toBe(false);
      expect(
        t.hub.audit
          .tail(5)
          .some((e) => (e.resource ?? '').includes('ag-1') || JSON.stringify(e.details).includes('ag-1')),
      ).toBe(true);
    },
  );

  it('a key waiting for the store is handed out once, and its confirmation audited with it', () => {
    const agents = t.hub.useCases.agents;
    const r = t.hub.useCases.stores.rotateKey('admin:a1', 'S1', 1000);
    const k = agents.takePendingKey('S1');
    expect(k?.id).toBe(r.id);
    const before = synced();
    expect(agents.confirmKey('S1', r.id)).toBe(true);
    expect(synced() - before).toBe(1);
    expect(lastAudit()).toMatchObject({ action: 'key.confirm', actor: 'store:S1', resource: `api-key:${r.id}` });
    expect(agents.takePendingKey('S1')).toBeUndefined();
  });

  it(
    'a rotation answers the new key even when the agent has it delivered and confirmed first (another hub process ' +
      'holding it)',
    () => {
      const agents = t.hub.useCases.agents;
      // what the process holding the agent does on hearing of the rotation, at once
      t.hub.keys.setDelivery({
        deliver: (store) => {
          const k = agents.takePendingKey(store);
          if (k) agents.confirmKey(store, k.id);
        },
        dropKey: () => undefined, // no key is dropped in this test
      });
      const r = t.hub.useCases.stores.rotateKey('admin:a1', 'S1', 1000);
      expect(r.apiKey.startsWith(r.id)).toBe(true);
      expect(agents.takePendingKey('S1')).toBeUndefined();
      expect(t.hub.credentials.keyWorks('S1', r.id)).toBe(true);
    },
  );

  it('a token of another store presented on an open connection is refused and audited', async () => {
    const other = new AgentUseCases({ ...t.hub, uow: t.hub.storage });
    t.hub.stores.create('S2', 'Two');
    const key = t.hub.credentials.createApiKey('S2');
    const { keyId } = t.hub.credentials.checkApiKey('S2', key);
    const token = await t.hub.tokens.issue('S2', keyId);
    expect(await other.refreshToken('S1', token)).toEqual({ kind: 'other-store' });
    expect(lastAudit()).toMatchObject({ action: 'auth.cross_store', actor: 'store:S1' });
    expect(await other.refreshToken('S2', token)).toMatchObject({ kind: 'ok', kid: keyId });
  });
});
