/** `host:port` → parts. IPv6 literals in brackets: `[::1]:7400`. */
export function parseHostPort(value: string, defaultHost = '127.0.0.1'): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value.trim());
  if (!m) throw new Error(`expected HOST:PORT, got "${value}"`);
  const host = m[1] ?? (m[2] || defaultHost);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`port out of range in "${value}"`);
  return { host, port };
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\./.test(h);
}
