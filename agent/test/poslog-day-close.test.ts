import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '@tillbridge/shared';
import type { Outbox } from '../src/sync/outbox.js';
import { PoslogCodec, PoslogCodecConfigSchema } from '../src/gateway/codecs/poslog/codec.js';
import type { RegisterEndpoint } from '../src/gateway/register-endpoint.js';
import type { StoreCore } from '../src/core/store-core.js';
import { expectedDayClose, SETTLED_DAY } from './support/day-close.js';
import { closeTempDb, dayCloseEvents, offlineHub, openTempStore, type TempStore } from './support/temp-store.js';
import { exchangeLines, startTcpLineEndpoint } from './tcp-lines.js';

/**
 * A register's day close written as an ARTS till settlement (TillSettle), through the real
 * gateway (TCP, line framing, the POSLog codec, validation) into a real store core: one
 * `day.close` event with the register's totals and the receipts the agent forwarded that day.
 */
const GOLDEN = fileURLToPath(new URL('./fixtures/poslog/', import.meta.url));
const log = createLogger({ name: 'test', level: 'silent' });
const oneLine = (b: Buffer | string) =>
  Buffer.from(
    b
      .toString()
      .replace(/<!--[\s\S]*?-->/g, '')
      .replace(/\r?\n\s*/g, ''),
  );

let store: TempStore;
let outbox: Outbox;
let core: StoreCore;
let endpoint: RegisterEndpoint;
let port: number;

beforeEach(async () => {
  store = openTempStore('tb-poslog-close-', offlineHub, log, { now: () => Date.parse('2026-11-27T21:10:00Z') });
  ({ outbox, core } = store);
  const codec = new PoslogCodec(
    PoslogCodecConfigSchema.parse({ type: 'poslog', defaultCurrency: 'EUR', timeZone: 'Europe/Berlin' }),
  );
  ({ endpoint, port } = await startTcpLineEndpoint('pos-1', codec, core, log));
});
afterEach(async () => {
  await endpoint.stop();
  closeTempDb(store);
});

const exchange = (frames: Buffer[]): Promise<string[]> => exchangeLines(port, frames);

const saleDoc = (seq: number, amount: string) =>
  Buffer.from(
    '<POSLog><Transaction><RetailStoreID>S002</RetailStoreID><WorkstationID>1</WorkstationID>' +
      `<SequenceNumber>${seq}</SequenceNumber><BusinessDayDate>2026-11-27</BusinessDayDate>` +
      `<EndDateTime>2026-11-27T10:0${seq % 10}:00</EndDateTime><CurrencyCode>EUR</CurrencyCode>` +
      '<RetailTransaction><LineItem><SequenceNumber>1</SequenceNumber><Sale>' +
      `<ItemID>TEE</ItemID><RegularSalesUnitPrice>${amount}</RegularSalesUnitPrice>` +
      `<ExtendedAmount>${amount}</ExtendedAmount><Quantity>1</Quantity></Sale></LineItem>` +
      '<LineItem><SequenceNumber>2</SequenceNumber><Tender TenderType="Cash" TypeCode="Sale">' +
      `<Amount>${amount}</Amount></Tender></LineItem></RetailTransaction></Transaction>` +
      '</POSLog>',
  );

describe('POSLog till settlement → day.close', () => {
  it(
    'is acked and enqueued as one day.close event (source ' + 'register) with the receipts forwarded that day',
    async () => {
      const replies = await exchange([
        saleDoc(501, '5.00'),
        saleDoc(502, '20.00'),
        oneLine(readFileSync(GOLDEN + 'till-settle.xml')),
      ]);
      expect(replies[2]).toMatch(
        new RegExp(
          '^<\\?xml version="1.0" encoding="UTF-8"\\?>' +
            '<TillbridgeReply xmlns="urn:tillbridge:reply:1">' +
            '<Ack Id="[0-9a-f-]{36}" WorkstationID="1" SequenceNumber="9001"/></TillbridgeReply>$',
        ),
      );
      const closes = dayCloseEvents(outbox);
      expect(closes).toHaveLength(1);
      expect(closes[0]!.register).toBe('pos-1');
      const { body } = closes[0]!;
      const day = { businessDay: '2026-11-27', closedAt: '2026-11-27T21:05:00+01:00', currency: 'EUR' };
      const receipts = ['S002-1-501-20261127', 'S002-1-502-20261127'];
      expect(body).toEqual(expectedDayClose(body.requestId, 'register', day, SETTLED_DAY, receipts));
      // the same document again: the same id, answered the same, nothing more enqueued
      const again = await exchange([oneLine(readFileSync(GOLDEN + 'till-settle.xml'))]);
      expect(again[0]).toBe(replies[2]);
      expect(dayCloseEvents(outbox)).toHaveLength(1);
    },
  );

  it('refuses a settlement without its business day, naming the element, and enqueues nothing', async () => {
    const doc = oneLine(
      readFileSync(GOLDEN + 'till-settle.xml', 'utf8').replace('<BusinessDayDate>2026-11-27</BusinessDayDate>', ''),
    );
    const bad = oneLine(
      readFileSync(GOLDEN + 'till-settle.xml', 'utf8').replace('<Count>2</Count>', '<Count>-2</Count>'),
    );
    const [missing, negative, sale] = await exchange([doc, bad, saleDoc(503, '1.00')]);
    expect(missing).toContain(
      '<Error Code="TB_INVALID">Transaction 1: BusinessDayDate: a till settlement needs the business day it closes',
    );
    expect(negative).toContain('TillSettle/Sales/Count: expected a whole number');
    expect(sale).toContain('<Ack '); // the connection still works
    expect(outbox.after(0, 100).map((r) => r.kind)).toEqual(['sale']);
  });
});
