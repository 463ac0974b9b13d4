import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import got, { type Method } from 'got';
import type * as z from 'zod/mini';
import { TbCodes, TbError } from '@tillbridge/shared';
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

interface HubErrorAnswer {
  code?: string;
  message?: string;
}

/** The error the hub answered with (its code, else TB_INTERNAL), as a TbError. */
function hubError(answer: HubErrorAnswer, status: number): TbError {
  return new TbError((answer.code ?? TbCodes.INTERNAL) as TbError['code'], answer.message ?? `HTTP ${status}`);
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
    const hub = parseHubUrl(this.base);
    if (!this.token)
      throw new TbError(
        TbCodes.UNAUTHORIZED,
        'no admin token: pass --token or set TILLBRIDGE_ADMIN_TOKEN (printed by `tillbridge-hub init`)',
      );
    const stream = got.stream(`${this.base.replace(/\/$/, '')}${path}`, {
      headers: { authorization: `Bearer ${this.token}` },
      throwHttpErrors: false,
      retry: { limit: 0 },
      timeout: { connect: 10_000, response: 120_000 },
      followRedirect: false,
      ...(this.ca ? { https: { certificateAuthority: this.ca } } : {}),
    });
    let status: number;
    try {
      status = await new Promise<number>((resolve, reject) => {
        stream.once('response', (r: { statusCode: number }) => resolve(r.statusCode));
        stream.once('error', reject);
      });
    } catch (err) {
      throw connectionError(hub, err, this.caFile);
    }
    if (status >= 400) {
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      let e: HubErrorAnswer = {};
      try {
        e = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof e;
      } catch {
        throw new TbError(TbCodes.INTERNAL, `the hub answered HTTP ${status} with something that is not JSON`);
      }
      throw hubError(e, status);
    }
    let bytes = 0;
    const count = new Transform({
      transform(c: Buffer, _enc, next) {
        bytes += c.length;
        next(null, c);
      },
    });
    await pipeline(stream, count, out);
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
    const hub = parseHubUrl(this.base);
    if (!this.token)
      throw new TbError(
        TbCodes.UNAUTHORIZED,
        'no admin token: pass --token or set TILLBRIDGE_ADMIN_TOKEN (printed by `tillbridge-hub init`)',
      );
    const url = `${this.base.replace(/\/$/, '')}${path}`;
    let res;
    try {
      const req = got(url, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(contentType ? { 'content-type': contentType } : {}),
          ...(streamSize === undefined ? {} : { 'content-length': String(streamSize) }),
        },
        ...(body === undefined ? {} : typeof body === 'string' || body instanceof Readable ? { body } : { json: body }),
        throwHttpErrors: false,
        retry: { limit: 0 },
        // a streamed import is answered once applied, minutes later for a large file
        timeout: streamSize === undefined ? { request: 120_000 } : { connect: 10_000 },
        followRedirect: false,
        ...(this.ca ? { https: { certificateAuthority: this.ca } } : {}),
      });
      if (onUpload)
        void req.on('uploadProgress', (p: { transferred: number; total?: number }) => onUpload(p.transferred, p.total));
      res = await req;
    } catch (err) {
      throw connectionError(hub, err, this.caFile);
    }
    let parsed: unknown;
    try {
      parsed = res.body ? JSON.parse(res.body) : {};
    } catch {
      throw new TbError(TbCodes.INTERNAL, `the hub answered HTTP ${res.statusCode} with something that is not JSON`);
    }
    if (res.statusCode >= 400) {
      throw hubError(parsed as HubErrorAnswer, res.statusCode);
    }
    return parsed as T;
  }
}
