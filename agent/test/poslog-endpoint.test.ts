import { vendorFixtures } from '@tillbridge/scripts/lib/fixtures';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, type RegisterMessage, type RegisterReply } from '@tillbridge/shared';
import { PoslogCodec, PoslogCodecConfigSchema } from '../src/gateway/codecs/poslog/codec.js';
import type { MessageHandler } from '../src/gateway/types.js';
import { exchangeLines, startTcpLineEndpoint } from './tcp-lines.js';

/**
 * The codec inside the real gateway: a TCP register sending one-line POSLog documents over line
 * framing, the gateway's own validation and masking, and a store core double that records what
 * it is handed. NCR's SMALL.xml is one line with no line break, exactly as the vendor wrote it.
 */
const PUBLIC = vendorFixtures('poslog');
const GOLDEN = fileURLToPath(new URL('./fixtures/poslog/', import.meta.url));

class Recorder implements MessageHandler {
  readonly seen: RegisterMessage[] = [];
  handle(_register: string, message: RegisterMessage): Promise<RegisterReply> {
    this.seen.push(message);
    return Promise.resolve({ type: 'ack', id: message.id });
  }
}

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
});

async function start(): Promise<{ port: number; core: Recorder; logs: () => string }> {
  let logged = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logged += chunk.toString('utf8');
      cb();
    },
  });
  const log = createLogger({ name: 'poslog-test', level: 'debug', destination: sink });
  const core = new Recorder();
  const codec = new PoslogCodec(PoslogCodecConfigSchema.parse({ type: 'poslog', defaultCurrency: 'EUR' }));
  const { endpoint, port } = await startTcpLineEndpoint('pos-1', codec, core, log);
  stops.push(() => endpoint.stop());
  return { port, core, logs: () => logged };
}

const exchange = exchangeLines;

const oneLine = (b: Buffer) => Buffer.from(b.toString('utf8').replace(/\r?\n\s*/g, ' '));

describe('poslog codec in the register endpoint', () => {
  it('acks each sale of a document on one reply line; the store core gets canonical, masked messages', async () => {
    const { port, core, logs } = await start();
    const small = readFileSync(join(PUBLIC, 'kjbreil-poslog-ncr-acs-small-sale.xml'));
    const pan = oneLine(readFileSync(GOLDEN + 'full-pan-sale.xml'));
    const garbage = Buffer.from('<POSLog><Transaction></POSLog>');
    const replies = await exchange(port, [small, pan, garbage], 3);
    expect(replies[0]).toMatch(
      new RegExp(
        '^<\\?xml version="1.0" encoding="UTF-8"\\?>' +
          '<TillbridgeReply xmlns="urn:tillbridge:reply:1">' +
          '<Ack Id="[0-9a-f-]{36}" Receipt="9-34-161-20170930" WorkstationID="34" ' +
          'SequenceNumber="161"/></TillbridgeReply>$',
      ),
    );
    expect(replies[1]).toContain('Receipt="S004-1-9-20261127"');
    expect(replies[2]).toMatch(/<Error Code="TB_MALFORMED">not well-formed XML \(line 1, column \d+\)<\/Error>/);
    expect(core.seen.map((m) => m.type)).toEqual(['sale', 'sale']);
    expect(core.seen[0]).toMatchObject({
      receipt: '9-34-161-20170930',
      lines: [{ line: 1, sku: '00000000067591', qty: 0.42, unitPrice: 299 }],
    });
    expect(core.seen[1]).toMatchObject({ tenders: [{ kind: 'card', amount: 1999, pan: '411111******1111' }] });
    expect(JSON.stringify(core.seen)).not.toContain('4111111111111111');
    expect(logs()).not.toContain('4111111111111111');
    expect(logs()).not.toContain('4111 1111 1111 1111');
  });

  it('answers a track-data document with TB_CARD_DATA and nothing reaches the store core', async () => {
    const { port, core, logs } = await start();
    const [reply] = await exchange(port, [oneLine(readFileSync(GOLDEN + 'track-data-sale.xml'))], 1);
    expect(reply).toMatch(
      new RegExp(
        '<Error Id="[0-9a-f-]{36}" Code="TB_CARD_DATA" Receipt="S004-1-10-20261127" ' +
          'WorkstationID="1" SequenceNumber="10">tenders\\[0\\]\\.pan refused',
      ),
    );
    expect(reply).not.toContain('4111111111111111');
    expect(core.seen).toEqual([]);
    expect(logs()).not.toContain('4111111111111111');
  });
});
