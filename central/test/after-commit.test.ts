import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testHub } from './helpers.js';

let t: ReturnType<typeof testHub>;
let heard: [string, string[]][];
beforeEach(() => {
  t = testHub();
  t.hub.stores.create('S1', 'One');
  heard = [];
  t.hub.feed.onInventory((store, skus) => heard.push([store, skus.sort()]));
});
afterEach(() => t.cleanup());

describe("a transaction's after-commit effects (the unit of work)", () => {
  it('announces the inventory a transaction changed once, after it commits, whoever wrote it', () => {
    t.hub.storage.tx(() => {
      t.hub.ledger.setOnHand('S1', 'A', 5000, 'test');
      t.hub.ledger.setOnHand('S1', 'B', 1000, 'test');
      t.hub.ledger.setOnHand('S1', 'A', 6000, 'test');
      expect(heard).toEqual([]); // nothing before the commit
    });
    expect(heard).toEqual([['S1', ['A', 'B']]]);
  });

  it('announces nothing of a transaction that rolled back, and the next one only its own changes', () => {
    expect(() =>
      t.hub.storage.tx(() => {
        t.hub.ledger.setOnHand('S1', 'A', 5000, 'test');
        throw new Error('changed my mind');
      }),
    ).toThrow('changed my mind');
    expect(heard).toEqual([]);
    t.hub.storage.tx(() => t.hub.ledger.setOnHand('S1', 'C', 1000, 'test'));
    expect(heard).toEqual([['S1', ['C']]]);
  });

  it('still announces a transaction whose first change was in a savepoint that rolled back', () => {
    t.hub.storage.tx(() => {
      expect(() =>
        t.hub.storage.savepoint(() => {
          t.hub.ledger.setOnHand('S1', 'A', 5000, 'test');
          throw new Error('refused');
        }),
      ).toThrow('refused');
      t.hub.ledger.setOnHand('S1', 'B', 1000, 'test');
    });
    // B committed and is announced (A, rolled back, may be announced with it: unchanged)
    expect(heard).toHaveLength(1);
    expect(heard[0]![1]).toContain('B');
  });

  it(
    'runs effects in order after the outermost commit, none for a rolled-back savepoint, and at once outside a ' +
      'transaction',
    () => {
      const order: string[] = [];
      t.hub.storage.tx(() => {
        t.hub.storage.afterCommit(() => order.push('first'));
        expect(() =>
          t.hub.storage.savepoint(() => {
            t.hub.storage.afterCommit(() => order.push('undone'));
            throw new Error('inner');
          }),
        ).toThrow('inner');
        t.hub.storage.tx(() => t.hub.storage.afterCommit(() => order.push('nested')));
        expect(order).toEqual([]);
      });
      expect(order).toEqual(['first', 'nested']);
      t.hub.storage.afterCommit(() => order.push('now'));
      expect(order).toEqual(['first', 'nested', 'now']);
    },
  );

  it('an effect that throws does not undo the commit nor stop the other effects', () => {
    const ran: string[] = [];
    t.hub.storage.tx(() => {
      t.hub.ledger.setOnHand('S1', 'A', 5000, 'test');
      t.hub.storage.afterCommit(() => {
        throw new Error('push failed');
      });
      t.hub.storage.afterCommit(() => ran.push('second'));
    });
    expect(ran).toEqual(['second']);
    expect(t.hub.ledger.get('S1', 'A')?.onHand).toBe(5000);
  });
});
