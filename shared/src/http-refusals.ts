import type { Server, ServerResponse } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import { TbCodes, type TbCode } from './errors.js';
import { refuseOnSocket, socketGone } from './socket-refusal.js';

/**
 * How much of a refused request body is read and dropped past its limit before the connection is cut. Enough for
 * a client that sent up to several times too much (a 2 MiB body to a 1 MiB route) to read its refusal; not so much
 * that a client can make the server read without end.
 */
export const DISCARD_AT_MOST = 4 * 1024 * 1024;

/**
 * Reads the rest of a refused request body and drops it, then calls `done` (once). A client still sending when its
 * body is refused (over a route's limit) then reads the answer once it has sent everything, instead of a reset: a
 * socket closed with unread data in it is reset, and the reset can reach the client before the answer it was sent.
 * A body that goes on for more than `atMost` further bytes is cut (the request destroyed: that client sees a reset),
 * and `done` is called at once.
 */
export function discardRest(body: Readable, done: () => void, atMost = DISCARD_AT_MOST): void {
  let dropped = 0;
  let called = false;
  const finish = (): void => {
    if (called) return;
    called = true;
    body.off('data', onData);
    done();
  };
  const onData = (chunk: Buffer): void => {
    dropped += chunk.length;
    if (dropped <= atMost) return;
    body.destroy();
    finish();
  };
  if (body.readableEnded || body.destroyed) {
    finish();
    return;
  }
  body.on('data', onData);
  body.once('end', finish);
  body.once('close', finish); // the client went away
  body.on('error', finish); // kept: a late error (a reset while dropping) is not a crash
  body.resume();
}

/** What a server answers for what Node refuses before any request handler sees it. */
interface ClientErrorAnswer {
  status: number;
  code: string;
  message: string;
}

/** Node's codes for a request it could not read, and the answer each gets (its default answer, with a body). */
function answerFor(code: string | undefined): ClientErrorAnswer {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, code: TbCodes.FRAME_TOO_LARGE, message: 'the request line and headers are over 16 KiB' };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { status: 413, code: TbCodes.FRAME_TOO_LARGE, message: 'the chunk extensions are too large' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, code: TbCodes.MALFORMED, message: 'the request did not arrive in time' };
    default:
      // llhttp's reason is a fixed text (never the bytes it refused: no card number is quoted back)
      return { status: 400, code: TbCodes.MALFORMED, message: 'the request is not valid HTTP/1.1' };
  }
}

/** The responses each connection has not finished, in the order of their requests (filled by the 'request' event). */
const unfinished = new WeakMap<Duplex, Set<ServerResponse>>();

function track(socket: Duplex, res: ServerResponse): void {
  let open = unfinished.get(socket);
  if (!open) unfinished.set(socket, (open = new Set()));
  const set = open;
  set.add(res);
  const done = (): void => void set.delete(res);
  res.once('finish', done);
  res.once('close', done);
}

/**
 * A refusal written on the raw socket (no request object exists for it, as for an upgrade's), then the connection
 * closed. Pipelined behind requests still being answered, it waits for their answers: a client reads answers in the
 * order it sent its requests. A request whose own body is what was refused (a bad chunk) is answered by the refusal.
 */
function refuseInOrder(socket: Duplex, status: number, json: { code: string; message: string }): void {
  const owed = [...(unfinished.get(socket) ?? [])].filter((r) => r.req.complete && !r.writableFinished);
  if (owed.length === 0) {
    refuseOnSocket(socket, status, { json });
    return;
  }
  let left = owed.length;
  for (const r of owed) {
    let counted = false;
    const one = (): void => {
      if (counted) return;
      counted = true;
      // a response closed unfinished (its connection lost): nothing more can be answered in order
      if (!r.writableFinished) socket.destroy();
      else if (--left === 0) refuseInOrder(socket, status, json);
    };
    r.once('finish', one);
    r.once('close', one);
  }
}

/**
 * Answers, with the house error (`{code, message}` as JSON), what Node refuses before a request handler sees it —
 * where by default it writes a status with no body, or closes without a word:
 * - a request it cannot parse (`clientError`): 400, 431 for a head over 16 KiB, 408 for one that never completes;
 * - `Expect` other than `100-continue` (`checkExpectation`): 417;
 * - `CONNECT` (`connect`): 405, with the code the server gives any method a path does not take (`wrongMethod`:
 *   the hub's router says TB_NOT_FOUND, the agent's register port TB_INVALID); neither is a proxy.
 * Each closes the connection once the answer is written — after the answers still owed to requests sent before it.
 */
export function answerRefusalsInHouseStyle(server: Server, opts: { wrongMethod?: TbCode } = {}): void {
  const wrongMethod = opts.wrongMethod ?? TbCodes.NOT_FOUND;
  server.on('request', (req, res) => track(req.socket, res));
  server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || socketGone(socket)) {
      socket.destroy();
      return;
    }
    const a = answerFor(err.code);
    refuseInOrder(socket, a.status, { code: a.code, message: a.message });
  });
  server.on('checkExpectation', (_req, res) => {
    // the header's value is not quoted back: whatever a client puts in a request is never echoed (a card number)
    const body = JSON.stringify({ code: TbCodes.MALFORMED, message: 'expected no Expect header, or 100-continue' });
    res.writeHead(417, {
      connection: 'close',
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  });
  server.on('connect', (_req, socket: Duplex) => {
    refuseInOrder(socket, 405, { code: wrongMethod, message: 'CONNECT is not allowed here' });
  });
}
