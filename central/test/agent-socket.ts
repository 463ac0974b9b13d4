import type WebSocket from 'ws';
import { wsText } from '../../test/support/ws.js';

/** A frame of the agents' WebSocket protocol as a test reads it. */
export interface Frame {
  t: string;
  [k: string]: unknown;
}

/** What a test sees of a fake agent's WebSocket to the hub. */
export interface AgentSocket {
  ws: WebSocket;
  /** Every frame received, in order. */
  frames: Frame[];
  closed: Promise<{ code: number; reason: string }>;
  isClosed(): boolean;
  /**
   * The first frame of type `t` (that `where` accepts), received already or still to come; `t` may
   * also be a test of the whole frame (`ack` or `nack`, say).
   */
  next(t: string | ((f: Frame) => boolean), where?: (f: Frame) => boolean): Promise<Frame>;
  send(frame: unknown): void;
}

/** Records what arrives on `ws` from now on: call it before the socket opens, to miss nothing. */
export function agentSocket(ws: WebSocket): AgentSocket {
  const frames: Frame[] = [];
  let waiting: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  ws.on('message', (data) => {
    const f = JSON.parse(wsText(data)) as Frame;
    frames.push(f);
    // every wait this frame ends, as a wait begun after it would have found it
    const ended = waiting.filter((w) => w.match(f));
    waiting = waiting.filter((w) => !ended.includes(w));
    for (const w of ended) w.resolve(f);
  });
  let done = false;
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => {
      done = true;
      resolve({ code, reason: reason.toString() });
    }),
  );
  return {
    ws,
    frames,
    closed,
    isClosed: () => done,
    next: (t, where = () => true) => {
      const match = (f: Frame): boolean => (typeof t === 'string' ? f.t === t : t(f)) && where(f);
      const seen = frames.find(match);
      return seen ? Promise.resolve(seen) : new Promise((resolve) => waiting.push({ match, resolve }));
    },
    send: (frame) => ws.send(JSON.stringify(frame)),
  };
}

/**
 * A `req` frame asking the hub to authorize a return of one unit of line 1 of `receipt`, restocked
 * at register R1 (authorization auth-KEY, request rq-KEY).
 */
export const authorizeRequest = (rid: number, receipt: string, key: string | number): Frame => ({
  t: 'req',
  rid,
  op: 'authorize',
  body: {
    authorization: `auth-${key}`,
    after: 0,
    register: 'R1',
    requestId: `rq-${key}`,
    receipt,
    lines: [{ line: 1, qty: 1, disposition: 'restock' }],
  },
});
