import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createLogger,
  TbCodes,
  TbError,
  type AuthorizeRequestBody,
  type AuthorizeResult,
  type OverrideBody,
  type ReceiptLookupBody,
  type ReceiptLookupResult,
  type ReturnDecisionEventBody,
  type ReturnDecisionReply,
} from '@tillbridge/shared';
import type { Outbox } from '../src/sync/outbox.js';
import type { StoreCore } from '../src/core/store-core.js';
import type { HubAuthorizer } from '../src/sync/hub-link.js';
import { FixedCodec, loadProfile } from '../src/gateway/codecs/records/index.js';
import { approvalOf } from './support/hub-answers.js';
import { closeTempDb, openTempStore, type TempStore } from './support/temp-store.js';

/** Receipt numbers are each store's own: the agent says which store's receipt a register means. */

class FakeHub implements HubAuthorizer {
  connected = true;
  asked: AuthorizeRequestBody[] = [];
  lookups: ReceiptLookupBody[] = [];
  /** the store whose receipt the hub describes in its answers */
  saleStore = 'S2';
  authorize(body: AuthorizeRequestBody): Promise<AuthorizeResult> {
    this.asked.push(body);
    if (!this.connected) return Promise.reject(new TbError(TbCodes.HUB_UNAVAILABLE, 'down'));
    return Promise.resolve(
      approvalOf(body, {
        refundAmount: 700,
        allowedTenders: ['cash'],
        receipt: {
          receipt: body.receipt ?? '',
          store: this.saleStore,
          currency: 'EUR',
          lines: [{ line: 1, sku: 'OTHER', qty: 1, unitPrice: 700 }],
        },
      }),
    );
  }
  lookupReceipt(body: ReceiptLookupBody): Promise<ReceiptLookupResult> {
    this.lookups.push(body);
    return Promise.resolve({
      receipt: body.receipt ?? '',
      found: false,
      lines: [],
      code: 'receipt_ambiguous',
      matches: [{ receipt: body.receipt ?? '', store: 'S2', at: '2026-11-27T09:00:00Z' }],
    });
  }
  override(_body: OverrideBody): Promise<AuthorizeResult> {
    return Promise.reject(new Error('not used'));
  }
}

const log = createLogger({ name: 'test', level: 'silent' });
let store: TempStore;
let hub: FakeHub;
let core: StoreCore;
let outbox: Outbox;

const sale = (id: string, receipt: string) => ({
  type: 'sale' as const,
  id,
  receipt,
  at: '2026-11-27T10:00:00Z',
  currency: 'EUR',
  lines: [{ line: 1, sku: 'MINE', qty: 2, unitPrice: 1000 }],
  tenders: [],
});
const request = (id: string, receipt: string, originalStore?: string) => ({
  type: 'return.request' as const,
  id,
  receipt,
  ...(originalStore !== undefined ? { originalStore } : {}),
  lines: [{ line: 1, qty: 1, disposition: 'restock' as const }],
});
const decisions = (): ReturnDecisionEventBody[] =>
  outbox
    .after(0, 100)
    .filter((r) => r.kind === 'return.decision')
    .map((r) => JSON.parse(r.body) as ReturnDecisionEventBody);

beforeEach(() => {
  hub = new FakeHub();
  store = openTempStore('tb-rcpt-', hub, log, { now: () => Date.parse('2026-11-27T12:00:00Z') });
  ({ outbox, core } = store);
});
afterEach(() => closeTempDb(store));

describe('receipts of one store and another', () => {
  it('passes the store a register names to the hub, for a return and for a lookup', async () => {
    await core.handle('R1', request('q1', '1001', 'S2'));
    await core.handle('R1', request('q2', '1002'));
    expect(hub.asked.map((b) => b.originalStore)).toEqual(['S2', undefined]);
    const reply = await core.handle('R1', { type: 'receipt.lookup', id: 'l1', receipt: '1001', originalStore: 'S2' });
    expect(hub.lookups[0]).toMatchObject({ receipt: '1001', originalStore: 'S2' });
    // an ambiguous number reaches the register with its code and the stores that issued it
    expect(reply).toMatchObject({
      type: 'receipt',
      found: false,
      source: 'hub',
      code: 'receipt_ambiguous',
      matches: [{ store: 'S2' }],
    });
  });

  it(
    'offline, decides only on this store’s own receipt, ' + 'and says in the decision which store the register named',
    async () => {
      await core.handle('R1', sale('s1', '1001'));
      hub.connected = false;
      const other = (await core.handle('R1', request('q1', '1001', 'S2'))) as ReturnDecisionReply;
      expect(other).toMatchObject({
        decision: 'denied',
        mode: 'offline',
        lines: [{ code: 'receipt_unknown_offline' }],
      });
      const own = (await core.handle('R1', request('q2', '1001', 'S1'))) as ReturnDecisionReply;
      expect(own).toMatchObject({ decision: 'approved', mode: 'offline' });
      expect(decisions().map((d) => [d.decision, d.originalStore])).toEqual([
        ['denied', 'S2'],
        ['approved', 'S1'],
      ]);
    },
  );

  it(
    'a sale made here takes the place of another store’s ' + 'receipt the hub described under the same number',
    async () => {
      // the hub described S2's receipt 1001 (a cross-store return), then this store sells its own 1001
      await core.handle('R1', request('q1', '1001'));
      await core.handle('R1', sale('s1', '1001'));
      hub.connected = false;
      const own = (await core.handle('R1', request('q2', '1001'))) as ReturnDecisionReply;
      expect(own).toMatchObject({ decision: 'approved', mode: 'offline', refundAmount: 1000 });
      // …and an answer about S2's 1001 afterwards does not replace this store's own
      hub.connected = true;
      await core.handle('R1', request('q3', '1001', 'S2'));
      hub.connected = false;
      expect(await core.handle('R1', { type: 'receipt.lookup', id: 'l1', receipt: '1001' })).toMatchObject({
        found: true,
        source: 'local',
        store: 'S1',
        lines: [{ sku: 'MINE' }],
      });
      expect(
        await core.handle('R1', { type: 'receipt.lookup', id: 'l2', receipt: '1001', originalStore: 'S2' }),
      ).toMatchObject({ found: false, source: 'local' });
    },
  );
});

describe('a legacy record profile', () => {
  it('can map the store that issued a receipt, and write the code of an ambiguous lookup', () => {
    const profile = loadProfile({
      name: 'tiny',
      format: 'fixed',
      request: {
        recordSeparator: '\n',
        messages: {
          P: {
            type: 'receipt.lookup',
            fields: { id: { columns: [2, 4] }, receipt: { columns: [6, 6] }, originalStore: { columns: [12, 4] } },
          },
        },
      },
      reply: {
        records: {
          ack: { code: 'A', fields: [{ columns: [2, 4], from: 'id' }] },
          error: { code: 'E', fields: [{ columns: [2, 4], from: 'id' }] },
          receipt: {
            code: 'R',
            fields: [
              { columns: [2, 4], from: 'id' },
              { columns: [6, 20], from: 'code' },
            ],
          },
        },
      },
    });
    const codec = new FixedCodec(profile);
    const named = codec.decode(Buffer.from('P00011001  S2  ', 'latin1'));
    expect(named).toMatchObject({
      kind: 'messages',
      messages: [{ type: 'receipt.lookup', id: '0001', receipt: '1001', originalStore: 'S2' }],
    });
    const unnamed = codec.decode(Buffer.from('P00021001      ', 'latin1'));
    expect(unnamed.kind === 'messages' && unnamed.messages[0]).not.toHaveProperty('originalStore');
    const out = codec
      .encode(
        [
          {
            type: 'receipt',
            id: '0002',
            receipt: '1001',
            found: false,
            source: 'hub',
            lines: [],
            code: 'receipt_ambiguous',
          },
        ],
        undefined,
      )
      .toString('latin1');
    expect(out).toContain('R0002receipt_ambiguous');
  });
});
