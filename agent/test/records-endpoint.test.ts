import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, type RegisterMessage, type RegisterReply } from '@tillbridge/shared';
import { DelimitedCodec, FixedCodec, loadProfile } from '../src/gateway/codecs/records/index.js';
import { FramingSchema, makeFramer } from '../src/gateway/framing/schemas.js';
import { lrcOf } from '../src/gateway/framing/stx-etx.js';
import { RegisterEndpoint } from '../src/gateway/register-endpoint.js';
import { SerialTransportSchema } from '../src/gateway/transports/schemas.js';
import { SerialTransport } from '../src/gateway/transports/serial.js';
import type { MessageHandler } from '../src/gateway/types.js';
import { startPtyPair, waitFor, type PtyPair } from './pty.js';
import { startTcpLineEndpoint } from './tcp-lines.js';
import { ACME_SALE } from './support/acme-frames.js';

const log = createLogger({ name: 'test', level: 'silent' });
const AUTH = '530955b0-396b-8bce-a7c0-18da29f72d96';

/** Answers like the store core: once per id (a repeated id gets the stored answer and no second effect). */
function core() {
  const effects: RegisterMessage[] = [];
  const answers = new Map<string, RegisterReply>();
  const handler: MessageHandler = {
    handle: (_register, m) => {
      const known = answers.get(m.id);
      if (known) return Promise.resolve(known);
      effects.push(m);
      const reply: RegisterReply =
        m.type === 'return.request'
          ? {
              type: 'return.decision',
              id: m.id,
              authorization: AUTH,
              decision: 'approved',
              mode: 'online',
              lines: m.lines.map((l) => ({ line: l.line ?? 0, approvedQty: l.qty, code: 'ok' })),
            }
          : { type: 'ack', id: m.id };
      answers.set(m.id, reply);
      return Promise.resolve(reply);
    },
  };
  return { effects, handler };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('acme-ecr-400 behind STX/ETX+LRC on a real serial line (socat pseudo-terminals)', () => {
  it(
    'answers a sale, ' +
      'answers its retransmission the same with one effect, ' +
      'and answers a bad record with an error record',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tb-records-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      const pty: PtyPair = await startPtyPair(dir);
      cleanups.push(() => pty.close());

      const { effects, handler } = core();
      const transport = new SerialTransport({
        ...SerialTransportSchema.parse({
          type: 'serial',
          path: pty.a,
          baudRate: 9600,
          reconnectBaseMs: 10,
          reconnectCapMs: 100,
        }),
        log,
      });
      const codec = new DelimitedCodec(
        loadProfile(new URL('../../installers/profiles/acme-ecr-400-delimited.json', import.meta.url).pathname),
      );
      const endpoint = new RegisterEndpoint(
        'R7',
        transport,
        makeFramer(FramingSchema.parse({ type: 'stx-etx', lrc: true })),
        codec,
        handler,
        log,
      );
      await endpoint.start();
      cleanups.push(() => endpoint.stop());
      await waitFor('the agent to open its end', () => endpoint.status().connected === 1);

      const port = new SerialPort({ path: pty.b, baudRate: 9600, autoOpen: false });
      await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
      cleanups.push(() => new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve())));
      let heard = Buffer.alloc(0);
      port.on('data', (d: Buffer) => (heard = Buffer.concat([heard, d])));

      const frame = (payload: string) => {
        const p = Buffer.from(payload, 'latin1');
        return Buffer.concat([Buffer.of(0x02), p, Buffer.of(0x03, lrcOf(p))]);
      };
      /** Sends one frame and returns what came back: the link-level ACK, then the reply frame. */
      const exchange = async (payload: string, expectReply: string) => {
        heard = Buffer.alloc(0);
        port.write(frame(payload));
        const want = Buffer.concat([Buffer.of(0x06), frame(expectReply)]);
        await waitFor(`the reply ${expectReply}`, () => heard.length >= want.length);
        return heard;
      };

      const sale = ACME_SALE;
      expect(await exchange(sale, 'A|000123')).toEqual(Buffer.concat([Buffer.of(0x06), frame('A|000123')]));
      expect(effects).toHaveLength(1);
      expect(effects[0]).toMatchObject({
        type: 'sale',
        id: '000123',
        tenders: [
          { kind: 'cash', amount: 1000 },
          { kind: 'card', amount: 4044, pan: '411111******1111' },
        ],
      });

      // the register did not hear our answer and sends the same frame again
      expect(await exchange(sale, 'A|000123')).toEqual(Buffer.concat([Buffer.of(0x06), frame('A|000123')]));
      expect(effects).toHaveLength(1);

      expect(await exchange('R|000124|0001-000123|1|3|0420|02|D', `D|000124|${AUTH}|A|N||1|3|000420|00`)).toEqual(
        Buffer.concat([Buffer.of(0x06), frame(`D|000124|${AUTH}|A|N||1|3|000420|00`)]),
      );

      const bad = sale.replace('|899|', '|8,99|');
      const reply = 'E|000123|11|record 1 (S), lines[1].unitPrice (field ';
      expect(await exchange(bad, reply)).toEqual(Buffer.concat([Buffer.of(0x06), frame(reply)]));
      expect(effects).toHaveLength(2);
    },
  );
});

describe('contoso-fixed-80 behind CR LF lines on a real TCP connection', () => {
  it(
    'acks a multi-record sale, ' +
      'echoing till and transaction, ' +
      'and answers a return request with decision records',
    async () => {
      const { effects, handler } = core();
      const codec = new FixedCodec(
        loadProfile(new URL('../../installers/profiles/contoso-fixed-80.json', import.meta.url).pathname),
      );
      const { endpoint, port } = await startTcpLineEndpoint('R8', codec, handler, log, {
        terminator: '\r\n',
        maxFrameBytes: 8192,
        maxConnections: 1,
      });
      cleanups.push(() => endpoint.stop());

      const socket: Socket = connect(port, '127.0.0.1');
      cleanups.push(() => void socket.destroy());
      let heard = '';
      socket.on('data', (d: Buffer) => (heard += d.toString('latin1')));
      const rec = (...parts: string[]) => parts.join('').padEnd(80, ' ');
      const send = async (records: string[], expected: string) => {
        heard = '';
        socket.write(records.join('') + '\r\n');
        await waitFor('the reply line', () => heard.endsWith('\r\n'));
        expect(heard).toBe(expected + '\r\n');
      };

      await send(
        [
          rec('SH', '0007', '0123', '20261127101500', 'S07-0123'.padEnd(20), 'GBP'),
          rec('SL', '001', 'TEE-BLUE-M'.padEnd(20), '00002000', '000001999'),
          rec('ST', '02', '000003998', '4111111111111111'),
        ],
        rec('AK', '0007', '0123', '00'),
      );
      expect(effects[0]).toMatchObject({
        type: 'sale',
        receipt: 'S07-0123',
        at: '2026-11-27T10:15:00+00:00',
        tenders: [{ kind: 'card', amount: 3998, pan: '411111******1111' }],
      });

      await send(
        [rec('RH', '0007', '0124', '20261127101700', 'S07-0123'), rec('RL', '001', '00001000', 'R', '01')],
        rec('DH', '0007', '0124', 'A', 'N', AUTH, '001') + rec('DL', '001', '00001000', '00'),
      );
      expect(effects[1]).toMatchObject({
        type: 'return.request',
        receipt: 'S07-0123',
        lines: [{ line: 1, qty: 1, reason: 'wrong size', disposition: 'restock' }],
      });
      expect(effects).toHaveLength(2);
    },
  );
});
