import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import { TbCodes, TbError } from '@tillbridge/shared/errors';
import { describeZodError } from '@tillbridge/shared/validation';

// zod/mini: the CLI loads only the parts of zod its routes use (the classic API is one block of
// 750 KB, half its start-up). Its messages in English, as the classic API has them by default.
z.config(en());

/**
 * One admin API route as server and CLI both see it: method, path (`:name` segments), the query
 * it reads and the JSON it answers. The server's handler must return the response's type
 * (`serveRoute`); the CLI's client parses every answer with the same schema (`AdminClient.call`).
 */
export interface RouteContract<Path extends string, Query extends z.ZodMiniType, Response extends z.ZodMiniType> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: Path;
  query: Query;
  response: Response;
}

/** The `:name` segments of a path, as a union of names. */
export type PathParams<Path extends string> = Path extends `${string}:${infer Name}/${infer Rest}`
  ? Name | PathParams<`/${Rest}`>
  : Path extends `${string}:${infer Name}`
    ? Name
    : never;

/** What a route answers, as the client reads it. */
export type ResponseOf<Route> =
  Route extends RouteContract<string, z.ZodMiniType, infer Response> ? z.output<Response> : never;
/** What a route's handler returns. */
export type HandlerResultOf<Route> =
  Route extends RouteContract<string, z.ZodMiniType, infer Response> ? z.input<Response> : never;
/** What the client passes for a route: its path's params (when it has some), its query, its JSON body. */
export type RequestArgs<Path extends string, Query extends z.ZodMiniType> = ([PathParams<Path>] extends [never]
  ? { params?: undefined }
  : { params: Record<PathParams<Path>, string> }) & { query?: z.input<Query>; body?: unknown };

const noQuery = z.object({});

/** The routes under one path, by method, each declared by the rest of its path, its answer and its query. */
export interface RoutesUnder<Base extends string> {
  get: RouteOf<Base>;
  post: RouteOf<Base>;
  put: RouteOf<Base>;
  delete: RouteOf<Base>;
}

/** A route under `Base`: the rest of its path (`/:id`, or '' for `Base` itself), its answer, its query if any. */
export type RouteOf<Base extends string> = <
  const Path extends string,
  Response extends z.ZodMiniType,
  Query extends z.ZodMiniType = typeof noQuery,
>(
  path: Path,
  response: Response,
  query?: Query,
) => RouteContract<`${Base}${Path}`, Query, Response>;

/** `routesUnder('/v1/admin').delete('/webhooks/:id', removed)`: DELETE /v1/admin/webhooks/:id, answering `removed`. */
export function routesUnder<const Base extends string>(base: Base): RoutesUnder<Base> {
  const of = (method: RouteContract<string, z.ZodMiniType, z.ZodMiniType>['method']): RouteOf<Base> =>
    function route<
      const Path extends string,
      Response extends z.ZodMiniType,
      Query extends z.ZodMiniType = typeof noQuery,
    >(path: Path, response: Response, query?: Query): RouteContract<`${Base}${Path}`, Query, Response> {
      return { method, path: `${base}${path}`, response, query: (query ?? noQuery) as Query };
    };
  return { get: of('GET'), post: of('POST'), put: of('PUT'), delete: of('DELETE') };
}

/** The route's path with its params filled in (each %-encoded) and its query appended (empty values left out). */
export function routeUrl<Path extends string>(
  contract: RouteContract<Path, z.ZodMiniType, z.ZodMiniType>,
  params: Record<PathParams<Path>, string> | undefined,
  query: Record<string, unknown> = {},
): string {
  const values = (params ?? {}) as Record<string, string>;
  const path = contract.path.replace(/:([A-Za-z]+)/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`${contract.path}: no value for :${name}`);
    return encodeURIComponent(value);
  });
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== false && value !== '')
      search.set(key, typeof value === 'string' ? value : JSON.stringify(value));
  }
  return search.size > 0 ? `${path}?${search.toString()}` : path;
}

/** The request's query read with the route's schema; what does not fit is a 400 naming the parameter. */
export function parseQuery<Query extends z.ZodMiniType>(
  contract: RouteContract<string, Query, z.ZodMiniType>,
  search: URLSearchParams,
): z.output<Query> {
  const parsed = contract.query.safeParse(Object.fromEntries(search), { reportInput: true });
  if (parsed.success) return parsed.data;
  throw new TbError(TbCodes.INVALID, describeZodError(parsed.error, '').join('; '));
}

/** The admin API: every route under /v1/admin. */
export const admin = routesUnder('/v1/admin');
