import type { Logger } from '@tillbridge/shared';
import { JsonlCodec } from './codecs/jsonl.js';
import type { PoslogCodecDeps } from './codecs/poslog/codec.js';
import type { PoslogCodecConfig } from './codecs/poslog/config.js';
import { recordCodec, type RecordCodecConfig } from './codecs/records/index.js';
import { DEFAULT_FRAMING, FramingSchema, makeFramer, type FramingConfig } from './framing/schemas.js';
import type { HidBinding } from './hid/binding.js';
import type { HidTransportConfig } from './transports/hid-schemas.js';
import type { HttpTransportConfig } from './transports/http-schemas.js';
import type { SerialTransportConfig, TcpClientTransportConfig } from './transports/schemas.js';
import { HidTransport } from './transports/hid.js';
import { HttpTransport } from './transports/http.js';
import { SerialTransport } from './transports/serial.js';
import { TcpClientTransport } from './transports/tcp-client.js';
import { TcpServerTransport } from './transports/tcp-server.js';
import type { Codec, Framer, Transport } from './types.js';

/**
 * What the gateway needs of a register's config: declared here, so the gateway does not depend on
 * the agent's config file (config.ts's parsed `RegisterConfig` is assignable to it).
 */
export interface RegisterSpec {
  id: string;
  transport: RegisterTransportSpec;
  codec: RegisterCodecSpec;
  framing?: FramingConfig | undefined;
}

export type RegisterTransportSpec =
  | { type: 'tcp-server'; host: string; port: number; maxConnections: number }
  | TcpClientTransportConfig
  | SerialTransportConfig
  | HttpTransportConfig
  | HidTransportConfig;

export type RegisterCodecSpec = { type: 'jsonl' } | PoslogCodecConfig | RecordCodecConfig;

/** The framing a register gets when its config names none. */
export function defaultFraming(r: Pick<RegisterSpec, 'transport' | 'codec'>): FramingConfig {
  if (r.transport.type === 'http') {
    return FramingSchema.parse({ type: 'message', maxFrameBytes: r.transport.maxBodyBytes });
  }
  if (r.codec.type === 'poslog') {
    return FramingSchema.parse({ type: 'length-prefixed', bytes: 4, maxFrameBytes: 1_048_576 });
  }
  if (r.transport.type === 'serial') return FramingSchema.parse({ type: 'line', interByteTimeoutMs: 1000 });
  return DEFAULT_FRAMING;
}

/**
 * Builds a register's three gateway layers from its config. A new register model that is a
 * variation of a supported protocol needs only config: a transport, a framing, a codec (and for
 * legacy records, a profile file).
 */
export function makeTransport(r: RegisterSpec, log: Logger, hid: () => HidBinding): Transport {
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

export function makeRegisterFramer(r: RegisterSpec): () => Framer {
  return makeFramer(r.framing ?? defaultFraming(r));
}

/** `poslog`: the host's time zone and the sales this agent recorded (see PoslogCodecDeps). */
export async function makeCodec(r: RegisterSpec, poslog: PoslogCodecDeps = {}): Promise<Codec> {
  const c = r.codec;
  switch (c.type) {
    case 'jsonl':
      return new JsonlCodec();
    case 'poslog': {
      // the XML parser is loaded by an agent with a POSLog register only
      const { PoslogCodec } = await import('./codecs/poslog/codec.js');
      return new PoslogCodec(c, poslog);
    }
    case 'delimited':
    case 'fixed':
      return recordCodec(c);
  }
}

/** Whether any register or scanner needs node-hid (and so libusb) loaded. */
export function needsHid(registers: readonly RegisterSpec[], scanners: readonly unknown[]): boolean {
  return scanners.length > 0 || registers.some((r) => r.transport.type === 'hid');
}
