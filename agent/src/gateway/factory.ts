import type { Logger } from '@tillbridge/shared';
import { defaultFraming, type RegisterConfig } from '../config.js';
import { JsonlCodec } from './codecs/jsonl.js';
import { PoslogCodec, type PoslogCodecDeps } from './codecs/poslog/codec.js';
import { recordCodec } from './codecs/records/index.js';
import { makeFramer } from './framing/schemas.js';
import type { HidBinding } from './hid/binding.js';
import { HidTransport } from './transports/hid.js';
import { HttpTransport } from './transports/http.js';
import { SerialTransport } from './transports/serial.js';
import { TcpClientTransport } from './transports/tcp-client.js';
import { TcpServerTransport } from './transports/tcp-server.js';
import type { Codec, Framer, Transport } from './types.js';

/**
 * Builds a register's three gateway layers from its config. A new register model that is a
 * variation of a supported protocol needs only config: a transport, a framing, a codec (and for
 * legacy records, a profile file).
 */
export function makeTransport(r: RegisterConfig, log: Logger, hid: () => HidBinding): Transport {
  const t = r.transport;
  switch (t.type) {
    case 'tcp-server':
      return new TcpServerTransport({ host: t.host, port: t.port, maxConnections: t.maxConnections, log });
    case 'tcp-client': {
      const { type: _type, ...rest } = t;
      return new TcpClientTransport({ ...rest, log });
    }
    case 'serial': {
      const { type: _type, ...rest } = t;
      return new SerialTransport({ ...rest, log });
    }
    case 'http': {
      const { type: _type, ...rest } = t;
      return new HttpTransport({ ...rest, register: r.id, log });
    }
    case 'hid': {
      const { type: _type, ...rest } = t;
      return new HidTransport({ ...rest, binding: hid(), log });
    }
  }
}

export function makeRegisterFramer(r: RegisterConfig): () => Framer {
  return makeFramer(r.framing ?? defaultFraming(r));
}

/** `poslog`: the host's time zone and the sales this agent recorded (see PoslogCodecDeps). */
export function makeCodec(r: RegisterConfig, poslog: PoslogCodecDeps = {}): Codec {
  const c = r.codec;
  switch (c.type) {
    case 'jsonl':
      return new JsonlCodec();
    case 'poslog':
      return new PoslogCodec(c, poslog);
    case 'delimited':
    case 'fixed':
      return recordCodec(c);
  }
}

/** Whether any register or scanner needs node-hid (and so libusb) loaded. */
export function needsHid(registers: readonly RegisterConfig[], scanners: readonly unknown[]): boolean {
  return scanners.length > 0 || registers.some((r) => r.transport.type === 'hid');
}
