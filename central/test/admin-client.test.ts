import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TbCodes } from '@tillbridge/shared';
import { AdminClient } from '../src/cli/admin-client.js';
import { listStores } from '../src/http/contract/stores.js';

// The CLI's admin client (node's own http) against a real HTTP server that answers what each test
// needs: what it sends, how it reads answers, and what it says when an answer is not what it expects.

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let server: Server;
let base: string;
const seen: Seen[] = [];
let answer: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end('{}');

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      });
      answer(req, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const json = (status: number, body: unknown) => (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

describe('AdminClient', () => {
  it('sends the token and a JSON body, and reads the JSON answer', async () => {
    answer = json(201, { ok: true });
    const r = await new AdminClient(`${base}/`, 'tba_x').post<{ ok: boolean }>('/v1/admin/things', { a: 1 });
    expect(r).toEqual({ ok: true });
    const s = seen.at(-1)!;
    expect(s).toMatchObject({ method: 'POST', url: '/v1/admin/things', body: '{"a":1}' });
    expect(s.headers).toMatchObject({
      authorization: 'Bearer tba_x',
      'content-type': 'application/json',
      'content-length': '7',
    });
  });

  it("parses a route's answer with its schema, and names where an answer does not fit", async () => {
    const store = { id: 'S1', name: 'Main', createdAt: 'x', lastSeenAt: null, connected: false, agent: null };
    answer = json(200, [store]);
    expect(await new AdminClient(base, 'tba_x').request(listStores)).toEqual([store]);
    answer = json(200, [{ ...store, id: 5 }]);
    await expect(new AdminClient(base, 'tba_x').request(listStores)).rejects.toMatchObject({
      code: TbCodes.INTERNAL,
      message:
        "the hub's answer to GET /v1/admin/stores is not what this CLI expects at 0.id: " +
        'Invalid input: expected string, received number',
    });
  });

  it("throws the hub's error with its code; an answer that is not JSON is said to be so", async () => {
    answer = json(404, { code: TbCodes.NOT_FOUND, message: 'no such store' });
    await expect(new AdminClient(base, 'tba_x').get('/v1/admin/stores/X')).rejects.toMatchObject({
      code: TbCodes.NOT_FOUND,
      message: 'no such store',
    });
    answer = (_req, res) => res.end('<html>');
    await expect(new AdminClient(base, 'tba_x').get('/v1/admin/stores')).rejects.toMatchObject({
      code: TbCodes.INTERNAL,
      message: 'the hub answered HTTP 200 with something that is not JSON',
    });
  });

  it('streams an upload with its length, telling how much was sent', async () => {
    answer = json(200, { rows: 3 });
    const sent: [number, number | undefined][] = [];
    const body = Readable.from([Buffer.from('a,1\n'), Buffer.from('b,2\n'), Buffer.from('c,3\n')]);
    const r = await new AdminClient(base, 'tba_x').upload('/v1/admin/import', body, 'text/csv', 12, (n, total) =>
      sent.push([n, total]),
    );
    expect(r).toEqual({ rows: 3 });
    expect(seen.at(-1)).toMatchObject({ body: 'a,1\nb,2\nc,3\n' });
    expect(seen.at(-1)!.headers).toMatchObject({ 'content-type': 'text/csv', 'content-length': '12' });
    expect(sent.at(-1)).toEqual([12, 12]);
  });

  it('downloads into a stream, or throws the error answer before writing anything', async () => {
    answer = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/xml' });
      res.write('<a>');
      res.end('</a>');
    };
    const got: Buffer[] = [];
    const out = new Writable({
      write(c: Buffer, _e, cb) {
        got.push(c);
        cb();
      },
    });
    expect(await new AdminClient(base, 'tba_x').download('/v1/admin/feed.xml', out)).toBe(7);
    expect(Buffer.concat(got).toString()).toBe('<a></a>');
    answer = json(403, { code: TbCodes.FORBIDDEN, message: 'read-only token' });
    const none: Buffer[] = [];
    const out2 = new Writable({
      write(c: Buffer, _e, cb) {
        none.push(c);
        cb();
      },
    });
    await expect(new AdminClient(base, 'tba_x').download('/v1/admin/feed.xml', out2)).rejects.toMatchObject({
      code: TbCodes.FORBIDDEN,
    });
    expect(none).toEqual([]);
  });

  it('says the hub is unavailable when the connection closes before the answer', async () => {
    answer = (req) => req.socket.destroy();
    await expect(new AdminClient(base, 'tba_x').get('/v1/admin/stores')).rejects.toMatchObject({
      code: TbCodes.HUB_UNAVAILABLE,
      message: expect.stringContaining('closed the connection without answering (ECONNRESET)'),
    });
  });

  it('sends a GET again when its kept-alive connection was closed by the hub as it went out; not a POST', async () => {
    // a hub whose idle timeout closes a kept-alive connection just as the next request goes out on it: each
    // connection answers its first request and is closed at the second one, unanswered
    let connections = 0;
    const requests: string[] = [];
    const hub = createNetServer((socket) => {
      connections++;
      let answered = 0;
      socket.on('data', (d: Buffer) => {
        requests.push(d.toString('latin1').split(' ', 1)[0]!);
        if (answered++ > 0) return void socket.destroy();
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 8\r\n\r\n{"n":1}\n');
      });
    });
    await new Promise<void>((r) => hub.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`;
    try {
      const client = new AdminClient(url, 'tba_x');
      expect(await client.get('/v1/admin/status')).toEqual({ n: 1 });
      // the second GET goes out on the kept-alive connection, which is closed: sent again on a new one
      expect(await client.get('/v1/admin/status')).toEqual({ n: 1 });
      expect(connections).toBe(2);
      expect(requests).toEqual(['GET', 'GET', 'GET']);
      // a POST on the kept-alive connection is not sent again: the hub may have applied it
      await expect(client.post('/v1/admin/stores', { id: 'S1' })).rejects.toMatchObject({
        code: TbCodes.HUB_UNAVAILABLE,
      });
      expect(connections).toBe(2);
      expect(requests).toEqual(['GET', 'GET', 'GET', 'POST']);
    } finally {
      await new Promise((r) => hub.close(r));
    }
  });

  it('asks for a token before sending anything', async () => {
    const before = seen.length;
    await expect(new AdminClient(base, undefined).get('/v1/admin/stores')).rejects.toMatchObject({
      code: TbCodes.UNAUTHORIZED,
    });
    expect(seen.length).toBe(before);
  });
});
