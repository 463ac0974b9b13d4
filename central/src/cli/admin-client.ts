import { Readable } from 'node:stream';
import got, { type Method } from 'got';
import { TbCodes, TbError } from '@tillbridge/shared';
import { connectionError, parseHubUrl } from './connection-error.js';

/** The admin API over HTTP, as the CLI uses it. Errors come back as TbError with the hub's code. */
export class AdminClient {
  /** `ca`: the hub's CA certificate (PEM) for an https:// hub with a private CA; `caFile`: where it came from, for messages. */
  constructor(private readonly base: string, private readonly token: string | undefined, private readonly ca?: Buffer, private readonly caFile?: string) {}

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }
  /** `onUpload(sent, total)`: progress of sending the body (large imports). */
  post<T>(path: string, body?: unknown, contentType?: string, onUpload?: (sent: number, total: number | undefined) => void): Promise<T> {
    return this.call<T>('POST', path, body, contentType, onUpload);
  }
  /**
   * Streams `body` (`size` bytes; a file, never read whole) and waits for the answer however long the
   * hub takes to apply it (large imports): no overall timeout, `onUpload(sent, total)` as it goes.
   */
  upload<T>(path: string, body: Readable, contentType: string, size: number, onUpload?: (sent: number, total: number | undefined) => void): Promise<T> {
    return this.call<T>('POST', path, body, contentType, onUpload, size);
  }
  put<T>(path: string, body?: unknown): Promise<T> {
    return this.call<T>('PUT', path, body);
  }
  delete<T>(path: string): Promise<T> {
    return this.call<T>('DELETE', path);
  }

  private async call<T>(method: Method, path: string, body?: unknown, contentType?: string, onUpload?: (sent: number, total: number | undefined) => void, streamSize?: number): Promise<T> {
    const hub = parseHubUrl(this.base);
    if (!this.token) throw new TbError(TbCodes.UNAUTHORIZED, 'no admin token: pass --token or set TILLBRIDGE_ADMIN_TOKEN (printed by `tillbridge-hub init`)');
    const url = `${this.base.replace(/\/$/, '')}${path}`;
    let res;
    try {
      const req = got(url, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(contentType ? { 'content-type': contentType } : {}), ...(streamSize === undefined ? {} : { 'content-length': String(streamSize) }) },
        ...(body === undefined ? {} : typeof body === 'string' || body instanceof Readable ? { body } : { json: body }),
        throwHttpErrors: false,
        retry: { limit: 0 },
        // a streamed import is answered once applied, minutes later for a large file
        timeout: streamSize === undefined ? { request: 120_000 } : { connect: 10_000 },
        followRedirect: false,
        ...(this.ca ? { https: { certificateAuthority: this.ca } } : {}),
      });
      if (onUpload) req.on('uploadProgress', (p: { transferred: number; total?: number }) => onUpload(p.transferred, p.total));
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
      const e = parsed as { code?: string; message?: string };
      throw new TbError((e.code as TbError['code']) ?? TbCodes.INTERNAL, e.message ?? `HTTP ${res.statusCode}`);
    }
    return parsed as T;
  }
}
