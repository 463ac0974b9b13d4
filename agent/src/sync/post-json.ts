import type { Agent, IncomingHttpHeaders } from 'node:http';

/** How a JSON POST to the hub is made: its TLS material or HTTPS agent, its time limit, what abandons it. */
export interface PostOptions {
  /** the hub's CA certificate(s) (PEM), the store's client certificate and key */
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** an HTTPS agent of its own (one that checks a pinned certificate, or notes the one shown) */
  agent?: Agent;
  signal?: AbortSignal;
  /** connection and whole answer together; past it the request fails with code ETIMEDOUT */
  timeoutMs: number;
}

export interface PostAnswer {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * POSTs `body` as JSON and reads the whole answer, whatever its status, with node's own http/https: the agent's only
 * plain HTTP calls (the access token, enrollment) are one request each, with no retries and no redirects, so no
 * HTTP client library is loaded into the agent (it would stay in its memory for its life). Errors are node's own
 * (`code`: ECONNREFUSED, ETIMEDOUT, the TLS codes…), or the agent's (a pinned certificate refused).
 */
export async function postJson(url: string, body: unknown, o: PostOptions): Promise<PostAnswer> {
  const payload = Buffer.from(JSON.stringify(body), 'utf8');
  const { request } = url.startsWith('https:') ? await import('node:https') : await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(payload.length) },
      ...(o.ca ? { ca: o.ca } : {}),
      ...(o.cert ? { cert: o.cert } : {}),
      ...(o.key ? { key: o.key } : {}),
      ...(o.agent ? { agent: o.agent } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    const timer = setTimeout(() => {
      const e = new Error(`no answer within ${o.timeoutMs} ms`) as Error & { code: string };
      e.code = 'ETIMEDOUT';
      req.destroy(e);
    }, o.timeoutMs);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      reject(err);
    };
    req.on('error', fail);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', fail);
      res.once('end', () => {
        clearTimeout(timer);
        resolve({
          statusCode: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
      });
    });
    req.end(payload);
  });
}
