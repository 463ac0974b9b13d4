import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ClientRequest, IncomingMessage } from 'node:http';
import type * as z from 'zod/mini';
import { TbCodes, TbError } from '@tillbridge/shared/errors';
import { routeUrl, type PathParams, type RequestArgs, type RouteContract } from '../http/contract/route.js';
import { connectionError, parseHubUrl } from './connection-error.js';

/**
 * The hub's answer to a route, parsed with the route's schema. One that does not fit (a hub of
 * another version) is an error naming where it differs.
 */
export function parseAnswer<Response extends z.ZodMiniType>(
  contract: RouteContract<string, z.ZodMiniType, Response>,
  answer: unknown,
): z.output<Response> {
  const parsed = contract.response.safeParse(answer);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = (issue?.path ?? []).join('.') || '(the whole answer)';
  const route = `${contract.method} ${contract.path}`;
  const message = `the hub's answer to ${route} is not what this CLI expects at ${where}: ${issue?.message ?? ''}`;
  throw new TbError(TbCodes.INTERNAL, message);
}

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

interface HubErrorAnswer {
  code?: string;
  message?: string;
}

/** The error the hub answered with (its code, else TB_INTERNAL), as a TbError. */
function hubError(answer: HubErrorAnswer, status: number): TbError {
  return new TbError((answer.code ?? TbCodes.INTERNAL) as TbError['code'], answer.message ?? `HTTP ${status}`);
}

/** How many times a GET is sent when each attempt finds its kept-alive socket closed by the hub. */
const STALE_SOCKET_ATTEMPTS = 3;

/** A request that went out on a kept-alive socket the hub had just closed (`send` sends a GET again). */
class StaleSocket extends Error {
  constructor(override readonly cause: Error) {
    super('the kept-alive connection was closed by the hub');
  }
}

/** The admin API over HTTP, as the CLI uses it. Errors come back as TbError with the hub's code. */
export class AdminClient {
  /**
   * `ca`: the hub's CA certificate (PEM) for an https:// hub with a private CA; `caFile`: where it came from, for
   * messages.
   */
  constructor(
    private readonly base: string,
    private readonly token: string | undefined,
    private readonly ca?: Buffer,
    private readonly caFile?: string,
  ) {}

  /**
   * A route of the admin API's contract: the answer parsed with the route's schema, typed by it. An
   * answer that does not fit (a hub of another version) is an error naming what differs.
   */
  async request<Path extends string, Query extends z.ZodMiniType, Response extends z.ZodMiniType>(
    contract: RouteContract<Path, Query, Response>,
    ...[args]: [PathParams<Path>] extends [never] ? [RequestArgs<Path, Query>?] : [RequestArgs<Path, Query>]
  ): Promise<z.output<Response>> {
    const url = routeUrl(contract, args?.params, args?.query as Record<string, unknown> | undefined);
    return parseAnswer(contract, await this.call<unknown>(contract.method, url, args?.body));
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }
  /** `onUpload(sent, total)`: progress of sending the body (large imports). */
  post<T>(
    path: string,
    body?: unknown,
    contentType?: string,
    onUpload?: (sent: number, total: number | undefined) => void,
  ): Promise<T> {
    return this.call<T>('POST', path, body, contentType, onUpload);
  }
  /**
   * Streams `body` (`size` bytes; a file, never read whole) and waits for the answer however long the
   * hub takes to apply it (large imports): no overall timeout, `onUpload(sent, total)` as it goes.
   */
  upload<T>(
    path: string,
    body: Readable,
    contentType: string,
    size: number,
    onUpload?: (sent: number, total: number | undefined) => void,
  ): Promise<T> {
    return this.call<T>('POST', path, body, contentType, onUpload, size);
  }
  put<T>(path: string, body?: unknown): Promise<T> {
    return this.call<T>('PUT', path, body);
  }
  delete<T>(path: string): Promise<T> {
    return this.call<T>('DELETE', path);
  }

  /**
   * A GET whose answer is not JSON (an XML export): streamed into `out` as it comes, never whole in
   * memory. An error answer (JSON) is thrown as a TbError before anything is written to `out`.
   * Resolves with the bytes written once `out` has them all.
   */
  async download(path: string, out: Writable): Promise<number> {
    // the answer may take long to start (the hub builds it), then as long as it takes to stream
    const res = await this.send('GET', path, { connectMs: 10_000, answerMs: 120_000 });
    if ((res.statusCode ?? 0) >= 400) throw hubError((await this.answerOf(res)) as HubErrorAnswer, res.statusCode ?? 0);
    let bytes = 0;
    await pipeline(
      res,
      counting((n) => (bytes = n)),
      out,
    );
    return bytes;
  }

  private async call<T>(
    method: Method,
    path: string,
    body?: unknown,
    contentType?: string,
    onUpload?: (sent: number, total: number | undefined) => void,
    streamSize?: number,
  ): Promise<T> {
    const res = await this.send(
      method,
      path,
      // a streamed import is answered once applied, minutes later for a large file
      streamSize === undefined ? { wholeMs: 120_000 } : { connectMs: 10_000 },
      body,
      contentType,
      onUpload,
      streamSize,
    );
    const parsed = await this.answerOf(res);
    if ((res.statusCode ?? 0) >= 400) throw hubError(parsed as HubErrorAnswer, res.statusCode ?? 0);
    return parsed as T;
  }

  /** The answer's body as JSON ({} when empty); one that is not JSON is an error saying so. */
  private async answerOf(res: IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    try {
      for await (const c of res) chunks.push(c as Buffer);
    } catch (err) {
      throw connectionError(parseHubUrl(this.base), err, this.caFile);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    try {
      return text ? (JSON.parse(text) as unknown) : {};
    } catch {
      throw new TbError(TbCodes.INTERNAL, `the hub answered HTTP ${res.statusCode} with something that is not JSON`);
    }
  }

  /**
   * Sends one request with node's own http/https (https loaded only for an https:// hub) and resolves
   * with the answer once its head has come, its body still to read. What stops it before then (no
   * connection, a certificate refused, a time limit: code ETIMEDOUT) is a TbError saying what to do.
   * Limits: `wholeMs` from the start until the whole answer is read, `connectMs` until the connection
   * is made, `answerMs` until the answer's head has come. A GET that went out on a kept-alive socket the hub closed
   * at that moment (its idle timeout, 5 s, as `status --watch 5s` polls) is sent again on another connection.
   */
  private async send(...request: Parameters<AdminClient['sendOnce']>): Promise<IncomingMessage> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.sendOnce(...request);
      } catch (err) {
        if (!(err instanceof StaleSocket)) throw err;
        if (attempt >= STALE_SOCKET_ATTEMPTS) throw connectionError(parseHubUrl(this.base), err.cause, this.caFile);
      }
    }
  }

  /** One attempt of `send`, with its arguments. */
  private async sendOnce(
    method: Method,
    path: string,
    limits: { wholeMs?: number; connectMs?: number; answerMs?: number },
    body?: unknown,
    contentType?: string,
    onUpload?: (sent: number, total: number | undefined) => void,
    streamSize?: number,
  ): Promise<IncomingMessage> {
    const hub = parseHubUrl(this.base);
    if (!this.token)
      throw new TbError(
        TbCodes.UNAUTHORIZED,
        'no admin token: pass --token or set TILLBRIDGE_ADMIN_TOKEN (printed by `tillbridge-hub init`)',
      );
    const payload =
      body === undefined || body instanceof Readable
        ? undefined
        : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body), 'utf8');
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.token}`,
      ...(payload && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}),
      ...(contentType ? { 'content-type': contentType } : {}),
      ...(payload ? { 'content-length': String(payload.length) } : {}),
      ...(streamSize === undefined ? {} : { 'content-length': String(streamSize) }),
    };
    let url: URL;
    try {
      url = new URL(`${this.base.replace(/\/$/, '')}${path}`);
    } catch (err) {
      throw connectionError(hub, err, this.caFile);
    }
    const request =
      url.protocol === 'https:' ? (await import('node:https')).request : (await import('node:http')).request;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(url, { method, headers, ...(this.ca ? { ca: this.ca } : {}) });
      const timers: NodeJS.Timeout[] = [];
      let answer: IncomingMessage | undefined;
      const expire = (ms: number | undefined, what: string): NodeJS.Timeout | undefined => {
        if (ms === undefined) return undefined;
        const t = setTimeout(() => {
          const e = new Error(`no ${what} within ${ms} ms`) as Error & { code: string };
          e.code = 'ETIMEDOUT';
          (answer ?? req).destroy(e);
        }, ms);
        timers.push(t);
        return t;
      };
      const whole = expire(limits.wholeMs, 'whole answer');
      const connect = expire(limits.connectMs, 'connection');
      const head = expire(limits.answerMs, 'answer');
      // (a kept-alive socket is connected already)
      req.once('socket', (s) => {
        if (s.connecting) s.once('connect', () => clearTimeout(connect));
        else clearTimeout(connect);
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        for (const t of timers) clearTimeout(t);
        // a kept-alive socket the hub closed as this request went out on it (its idle timeout): nothing was read
        // from it, so a GET goes again on another connection; anything else could have been applied, so it is not
        if (method === 'GET' && req.reusedSocket && !answer && err.code === 'ECONNRESET') reject(new StaleSocket(err));
        else reject(connectionError(hub, err, this.caFile));
      });
      req.once('response', (res) => {
        clearTimeout(connect);
        clearTimeout(head);
        // the whole-answer limit runs on until the body has been read
        answer = res;
        res.once('close', () => clearTimeout(whole));
        resolve(res);
      });
      writeBody(req, body instanceof Readable ? body : payload, onUpload, streamSize);
    });
  }
}

/** Sends the request's body: a stream as it comes (`onUpload` counting it), else the whole of it at once. */
function writeBody(
  req: ClientRequest,
  body: Readable | Buffer | undefined,
  onUpload: ((sent: number, total: number | undefined) => void) | undefined,
  streamSize: number | undefined,
): void {
  if (!(body instanceof Readable)) {
    req.end(body);
    if (body) onUpload?.(body.length, body.length);
    return;
  }
  // a body that fails (a file that cannot be read) ends the request with its error
  pipeline(
    body,
    counting((sent) => onUpload?.(sent, streamSize)),
    req,
  ).catch((err: unknown) => req.destroy(err as Error));
}

/** What passes through, unchanged; `onBytes` is told the bytes so far after each chunk. */
function counting(onBytes: (total: number) => void): Transform {
  let total = 0;
  return new Transform({
    transform(c: Buffer, _enc, next) {
      total += c.length;
      onBytes(total);
      next(null, c);
    },
  });
}
