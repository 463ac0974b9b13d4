import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { TbCodes, TbError } from './errors.js';

/**
 * Compressed frames, agent → hub (protocol 4 on; docs/architecture.md#wire-protocol). A store on a 4G or
 * satellite link pays for every byte, and a sale's event is a few hundred bytes of JSON whose keys repeat in
 * every frame. Once the hub's welcome has chosen protocol 4 or later, the agent may send a frame as a binary
 * WebSocket message: its JSON text, deflated (raw DEFLATE, RFC 1951) with the preset dictionary below. Every
 * frame is deflated on its own, synchronously, so frames are read in the order they came and a return
 * authorization is never held behind another frame's inflation (permessage-deflate inflates on libuv's thread
 * pool: docs/benchmarks.md). Text frames stay valid: the agent sends short frames and every request a register
 * waits on (`req`) as text.
 *
 * The dictionary is part of the protocol: protocol 4's is this text, unchanged for as long as protocol 4 is
 * spoken. A different dictionary is a new protocol version.
 */
export const COMPRESSED_FRAMES_FROM = 4;

/** The largest frame an agent may send the hub (a batch of events), text or inflated. */
export const MAX_AGENT_FRAME_BYTES = 8 * 1024 * 1024;

/** Frames shorter than this (JSON bytes) are sent as text: deflating them saves little. */
export const COMPRESS_MIN_BYTES = 200;

/** Protocol 4's preset dictionary: the keys and values every agent frame repeats. Never edit it. */
export const PROTOCOL_4_DICTIONARY: Buffer = Buffer.from(
  [
    '{"t":"heartbeat","outboxDepth":0,"oldestAgeMs":0,"registers":[{"id":"R1","connected":1}],',
    '"policyVersion":1,"configVersion":1,"authz":{"since":"","online":{},"offline":{},"lateOnline":0,"failed":0}}',
    '{"t":"terminal","items":[{"register":"R1","state":"connected","transport":"tcp-server","connections":1,',
    '"lastMessageAt":"","at":""}]}',
    '{"seq":1,"id":"","kind":"day.close","register":"R1","at":"","body":{"requestId":"","businessDay":"",',
    '"source":"register","closedAt":"","currency":"EUR","sales":{"count":0,"amount":0},',
    '"returns":{"count":0,"amount":0},"tenders":[],"receipts":[],"authorizations":[]}}',
    '{"seq":1,"id":"","kind":"return.cancel","register":"R1","at":"","body":{"authorization":"","requestId":""}}',
    '{"seq":1,"id":"","kind":"return.complete","register":"R1","at":"","body":{"authorization":"","requestId":"",',
    '"lines":[{"line":1,"sku":"","qty":1}],"refund":{"kind":"card","amount":0,"pan":"************"}}}',
    '{"seq":1,"id":"","kind":"return.decision","register":"R1","at":"","body":{"authorization":"",',
    '"requestId":"","receipt":"","decision":"approved","mode":"offline","lines":[{"line":1,"sku":"","qty":1,',
    '"approvedQty":1,"code":"OK","disposition":"restock","refund":0}],"refundEstimate":0,"allowedTenders":',
    '["cash","card"],"conditions":[],"rules":[],"policyVersion":1,"decidedAt":""}}',
    '{"t":"events","items":[{"seq":1,"id":"","kind":"sale","register":"R1","at":"2026-01-01T00:00:00.000Z",',
    '"body":{"requestId":"","receipt":"","at":"2026-01-01T00:00:00.000Z","currency":"EUR","lines":[{"line":1,',
    '"sku":"SKU-","qty":1,"unitPrice":0}],"tenders":[{"kind":"cash","amount":0},{"kind":"card","amount":0,',
    '"pan":"************","panHash":""}]}},{"seq":2,"id":"","kind":"sale","register":"R1","at":"',
  ].join(''),
  'utf8',
);

/**
 * A frame's JSON text as the agent sends it: deflated when the protocol has compressed frames and the frame
 * is long enough. The agent does not pass its requests (`req`) through this: they go as text.
 */
export function outgoingFrame(text: string, protocol: number | undefined): string | Buffer {
  if (protocol === undefined || protocol < COMPRESSED_FRAMES_FROM) return text;
  if (Buffer.byteLength(text, 'utf8') < COMPRESS_MIN_BYTES) return text;
  return deflateRawSync(text, { dictionary: PROTOCOL_4_DICTIONARY });
}

/**
 * A binary frame's JSON text. Refused (MALFORMED, naming why) when the connection's protocol has no
 * compressed frames, when the data does not inflate with the dictionary, or when it would inflate past
 * `maxBytes` (the same bound a text frame has).
 */
export function inflateFrame(data: Buffer, protocol: number | undefined, maxBytes: number): string {
  if (protocol === undefined || protocol < COMPRESSED_FRAMES_FROM)
    throw new TbError(
      TbCodes.MALFORMED,
      `binary frames are compressed frames, part of the protocol from version ${COMPRESSED_FRAMES_FROM} on` +
        (protocol === undefined ? ' (after the welcome)' : ` (this connection speaks ${protocol})`),
    );
  try {
    return inflateRawSync(data, { dictionary: PROTOCOL_4_DICTIONARY, maxOutputLength: maxBytes }).toString('utf8');
  } catch (err) {
    const tooLarge = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
    throw new TbError(
      TbCodes.MALFORMED,
      tooLarge
        ? `a compressed frame inflates to more than ${maxBytes} bytes`
        : `a binary frame is not a compressed frame: ${(err as Error).message}`,
      { cause: err },
    );
  }
}
