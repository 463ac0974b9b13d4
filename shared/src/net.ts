import { BlockList, isIP } from 'node:net';

/** `host:port` → parts. IPv6 literals in brackets: `[::1]:7400`. */
export function parseHostPort(value: string, defaultHost = '127.0.0.1'): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value.trim());
  if (!m) throw new Error(`expected HOST:PORT, got "${value}"`);
  // an empty host (`:7400`) takes the default
  const named = m[1] ?? m[2] ?? '';
  const host = named === '' ? defaultHost : named;
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`expected a port from 0 to 65535, got ${port} in "${value}"`);
  return { host, port };
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/**
 * Whether `host` is this machine for certain: an IP literal in 127.0.0.0/8, `::1` (in any
 * spelling, bracketed or not, and IPv4-mapped `::ffff:127.x.y.z`), or the name `localhost`.
 * Nothing else — not a name that merely starts with `127.` (`127.0.0.1.nip.io` resolves wherever
 * its owner likes), not `localhost.` or `*.localhost` (resolvers differ), not the shorthand
 * `127.1` as a bare host (write IP literals in full; a URL's host is normalised by the URL parser
 * first, which turns `ws://127.1/` into 127.0.0.1 — see `urlHostIsLoopback`).
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (h.toLowerCase() === 'localhost') return true;
  const family = isIP(h);
  if (family === 0) return false;
  try {
    return LOOPBACK.check(h, family === 4 ? 'ipv4' : 'ipv6');
  } catch {
    return false; // e.g. an IPv6 literal with a zone (fe80::1%eth0): not loopback
  }
}

/** The URL `text` is, or undefined when it is not one (URL.parse, which Node 20 does not have yet). */
export function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/**
 * An HTTP request's target (`req.url`) as a URL: origin-form (`/…`, never read as `//authority/…`) or absolute-form;
 * undefined when it is neither (`//:99999` was a TypeError from `new URL`, a 500).
 */
export function requestTargetUrl(target: string | undefined): URL | undefined {
  const t = target ?? '/';
  return parseUrl(t.startsWith('/') ? `http://hub${t}` : t);
}

/** Whether a URL points at this machine, judged on the host the URL parser (and so the client) will use. */
export function urlHostIsLoopback(url: string): boolean {
  const u = parseUrl(url);
  return u !== undefined && isLoopbackHost(u.hostname);
}

/** `url` with its password masked (`***`), for messages and logs; `fallback` when it is not a URL. */
export function maskUrlPassword(url: string, fallback: string): string {
  const u = parseUrl(url);
  if (!u) return fallback;
  if (u.password) u.password = '***';
  return u.toString();
}
