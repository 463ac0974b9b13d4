import { afterEach, describe, expect, it } from 'vitest';
import { inventoryDigest, toMilli } from '@tillbridge/shared';
import type { Hub } from '../src/hub-services.js';
import { testHub } from './helpers.js';

let t: ReturnType<typeof testHub> | undefined;
afterEach(() => t?.cleanup());

/** A test hub with store S1 holding `stock` (SKU: units) on hand. */
function hubWithStock(stock: Record<string, number>): Hub {
  t = testHub();
  const { hub } = t;
  hub.stores.create('S1', 'S1');
  hub.storage.tx(() => {
    for (const [sku, units] of Object.entries(stock)) hub.ledger.setOnHand('S1', sku, toMilli(units), 'test');
  });
  return hub;
}

const digestOf = (rows: [string, number][]) => rows.map(([sku, n]) => ({ sku, h: inventoryDigest(sku, n) }));

describe('inventory accuracy', () => {
  it('counts the SKUs whose copy matches, says what to re-send and what to drop, and keeps the ratio', () => {
    const hub = hubWithStock({ A: 10, B: 4, C: 1.5 });
    const all = hub.accuracy.compare(
      'S1',
      digestOf([
        ['A', 10],
        ['B', 4],
        ['C', 1.5],
      ]),
    );
    expect(all.report).toMatchObject({ skus: 3, matching: 3, ratio: 1 });
    expect(all.corrections).toEqual({ items: [], removed: [] });

    const off = hub.accuracy.compare(
      'S1',
      digestOf([
        ['A', 10],
        ['B', 40],
        ['Z', 1],
      ]),
    );
    expect(off.report).toMatchObject({ skus: 3, matching: 1 });
    expect(off.report.ratio).toBeCloseTo(1 / 3);
    expect(off.corrections).toEqual({
      items: [
        { sku: 'B', onHand: 4 },
        { sku: 'C', onHand: 1.5 },
      ],
      removed: ['Z'],
    });
    expect(hub.accuracy.get('S1')).toMatchObject({ skus: 3, matching: 1 });
  });

  it('does not count a change already on its way to the agent as a mismatch', () => {
    const hub = hubWithStock({ A: 10, B: 5 }); // B: the agent has not applied this push yet
    const r = hub.accuracy.compare(
      'S1',
      digestOf([
        ['A', 10],
        ['B', 4],
      ]),
      new Set(['B']),
    );
    expect(r.report).toMatchObject({ skus: 1, matching: 1, ratio: 1 });
    expect(r.corrections).toEqual({ items: [], removed: [] });
  });
});
