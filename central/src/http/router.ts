import type { IncomingMessage, ServerResponse } from 'node:http';
import type * as z from 'zod/mini';
import { discardRest, maskCardNumbersIn, requestTargetUrl, TbCodes, TbError, type TbCode } from '@tillbridge/shared';
import type { PathParams, RouteContract } from './contract/route.js';

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
  /** The body read and parsed as JSON (or raw text for text/* bodies), within the route's size limit. */
  body(): Promise<unknown>;
  text(): Promise<string>;
}

export type Handler = (ctx: RequestContext) => unknown; // a value, or a Promise of one

interface Route {
  method: string;
  parts: string[];
  handler: Handler;
  maxBody: number;
}

/** The deepest a JSON body may nest. */
const MAX_DEPTH = 64;

/** How deep a parsed JSON value nests (without recursion: a value nested past the stack is measured too). */
function depthOf(v: unknown): number {
  let max = 0;
  const todo: [unknown, number][] = [[v, 1]];
  for (let next = todo.pop(); next !== undefined; next = todo.pop()) {
    const [x, d] = next;
    if (x === null || typeof x !== 'object') continue;
    max = Math.max(max, d);
    for (const y of Object.values(x)) todo.push([y, d + 1]);
  }
  return max;
}

/** The HTTP status of each error code; any other code is a 500. */
const STATUS_OF_CODES: [number, TbCode[]][] = [
  [400, [TbCodes.INVALID, TbCodes.MALFORMED]],
  [401, [TbCodes.UNAUTHORIZED]],
  [403, [TbCodes.FORBIDDEN]],
  [404, [TbCodes.NOT_FOUND]],
  [409, [TbCodes.CONFLICT, TbCodes.AUTHORIZATION_STATE, TbCodes.RECEIPT_AMBIGUOUS, TbCodes.LAST_ADMIN]],
  [413, [TbCodes.FRAME_TOO_LARGE]],
  [429, [TbCodes.RATE_LIMITED]],
  [503, [TbCodes.STORAGE_BUSY]],
];
const STATUS = new Map<string, number>(
  STATUS_OF_CODES.flatMap(([status, codes]) => codes.map((code) => [code, status])),
);

export function httpStatusFor(code: string): number {
  return STATUS.get(code) ?? 500;
}

/** A small method + path router; `:name` segments become params. Answers JSON. */
export class Router {
  private readonly routes: Route[] = [];

  add(method: string, path: string, handler: Handler, maxBody = 1024 * 1024): this {
    this.routes.push({ method, parts: path.split('/').filter(Boolean), handler, maxBody });
    return this;
  }

  /** A route of the admin API's contract (`contract/`): the handler answers the contract's response type. */
  serve<Path extends string, Response extends z.ZodMiniType>(
    contract: RouteContract<Path, z.ZodMiniType, Response>,
    handler: (
      ctx: RequestContext & { params: Record<PathParams<Path>, string> },
    ) => z.input<Response> | Promise<z.input<Response>>,
    maxBody?: number,
  ): this {
    // the router matched the path: each of its params is there
    return this.add(contract.method, contract.path, handler, maxBody);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // HTTP/1.1 requires Host (RFC 9112 3.2); the server leaves that check to here, so the refusal has a body
    if (req.headers.host === undefined && req.httpVersion === '1.1') {
      sendError(res, new TbError(TbCodes.MALFORMED, 'the Host header is missing (HTTP/1.1 requires one)'));
      return;
    }
    const url = requestTargetUrl(req.url);
    if (url === undefined) {
      sendError(res, new TbError(TbCodes.MALFORMED, 'the request target is not valid: not a path nor a URL'));
      return;
    }
    const segs = pathSegments(url.pathname);
    if (segs === undefined) {
      sendError(res, new TbError(TbCodes.MALFORMED, 'the request path has a malformed % escape'));
      return;
    }
    let pathMatched = false;
    for (const r of this.routes) {
      const params = match(r.parts, segs);
      if (!params) continue;
      pathMatched = true;
      if (r.method !== req.method) continue;
      let cached: Promise<string> | undefined;
      const text = (): Promise<string> => (cached ??= readBody(req, r.maxBody));
      const ctx: RequestContext = {
        req,
        res,
        params,
        query: url.searchParams,
        text,
        body: async () => {
          const t = await text();
          if (t.length === 0) return {};
          let parsed: unknown;
          try {
            parsed = JSON.parse(t);
          } catch {
            throw new TbError(TbCodes.MALFORMED, 'the request body is not valid JSON');
          }
          // nested past what a handler can quote or re-serialize (JSON.stringify recurses: RangeError, 500)
          if (depthOf(parsed) > MAX_DEPTH)
            throw new TbError(TbCodes.INVALID, `the request body is not valid: nested over ${MAX_DEPTH} deep`);
          // `null` is JSON too: read as no fields, as the token and enrollment endpoints already read it (a handler
          // reading a field of null was a TypeError, 500)
          return parsed ?? {};
        },
      };
      try {
        const out = await r.handler(ctx);
        if (!res.headersSent) sendJson(res, 200, out ?? {});
      } catch (err) {
        if (err instanceof TbError) sendError(res, err);
        else {
          sendJson(res, 500, { code: TbCodes.INTERNAL, message: 'internal error' });
          throw err;
        }
      }
      return;
    }
    sendJson(res, pathMatched ? 405 : 404, {
      code: TbCodes.NOT_FOUND,
      message: pathMatched
        ? `${req.method} is not allowed here`
        : maskCardNumbersIn(`no such endpoint: /${segs.join('/')}`),
    });
  }
}

/** The path's segments, each %-decoded; undefined when an escape is malformed (`%zz`, a lone `%`). */
function pathSegments(pathname: string): string[] | undefined {
  try {
    return pathname.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return undefined;
  }
}

/** Every string in a value with the card numbers in it masked (an import's bad rows quote what the file held). */
function maskedDeep(v: unknown): unknown {
  if (typeof v === 'string') return maskCardNumbersIn(v);
  if (Array.isArray(v)) return v.map(maskedDeep);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, maskedDeep(x)]));
  return v;
}

/** A TbError as the project's error answer: `{code, message, details?}` with the status for its code. */
function sendError(res: ServerResponse, err: TbError): void {
  const status = httpStatusFor(err.code);
  // messages quote what the request named (a path segment, a query value): never a card number (docs/security.md)
  const message = maskCardNumbersIn(err.message);
  const body = { code: err.code, message, ...(err.details ? { details: maskedDeep(err.details) } : {}) };
  sendJson(res, status, body, status === 429 ? { 'retry-after': String(retryAfterOf(err)) } : {});
}

function match(parts: string[], segs: string[]): Record<string, string> | undefined {
  if (parts.length !== segs.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] ?? '';
    const seg = segs[i] ?? '';
    if (part.startsWith(':')) params[part.slice(1)] = seg;
    else if (part !== seg) return undefined;
  }
  return params;
}

/**
 * The seconds a 429 tells the client to wait (`Retry-After`): the error's `details.retryAfterSec`
 * (every TB_RATE_LIMITED error made by `rateLimited()` in auth/gate.ts has it), else a minute.
 */
function retryAfterOf(err: TbError): number {
  const s = err.details?.retryAfterSec;
  return typeof s === 'number' && Number.isInteger(s) && s > 0 ? s : 60;
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/**
 * The request's body as text, refused (TB_FRAME_TOO_LARGE) past `max` bytes — once the rest of it has been read and
 * dropped (discardRest), so the client reads the 413 rather than a reset; a body far larger is cut.
 */
export function readBody(req: IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size <= max) {
        chunks.push(c);
        return;
      }
      req.off('data', onData);
      req.off('end', onEnd);
      chunks.length = 0;
      discardRest(req, () => reject(new TbError(TbCodes.FRAME_TOO_LARGE, `request body over ${max} bytes`)));
    };
    const onEnd = (): void => resolve(Buffer.concat(chunks).toString('utf8'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', reject);
  });
}
