import { request } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createLogger, type RegisterMessage, type RegisterReply } from '@tillbridge/shared';
import { HttpTransport, WS_OVERSIZE_CLOSE } from '../src/gateway/transports/http.js';
import { HttpTransportSchema } from '../src/gateway/transports/http-schemas.js';
import { MessageFramer, MessageFramingSchema } from '../src/gateway/framing/message.js';
import { JsonlCodec } from '../src/gateway/codecs/jsonl.js';
import { RegisterEndpoint } from '../src/gateway/register-endpoint.js';
import type { Connection } from '../src/gateway/types.js';

const log = createLogger({ name: 'test', level: 'silent' });
const started: HttpTransport[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((t) => t.stop()));
});

async function serve(
  register: string,
  handler: (conn: Connection) => void,
  over: Record<string, unknown> = {},
): Promise<HttpTransport> {
  const cfg = HttpTransportSchema.parse({ type: 'http', port: 0, ...over });
  const t = new HttpTransport({ ...cfg, register, log });
  started.push(t);
  await t.start(handler);
  return t;
}

/** Answers each chunk with `<register>:<chunk>`. */
const echo = (register: string) => (conn: Connection) =>
  conn.onData((chunk) => conn.write(Buffer.from(`${register}:${chunk.toString()}`)));

const url = (t: HttpTransport, register: string) => `http://127.0.0.1:${t.port()}/v1/registers/${register}/messages`;

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw POST: lets a test send more than the server reads, chunked or with a given length. */
function rawPost(
  port: number,
  path: string,
  body: Buffer,
  headers: Record<string, string | number> = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on('error', reject);
    req.write(body, () => req.end());
    req.on('error', () => undefined);
  });
}

function openWs(target: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(target.replace('http:', 'ws:'));
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

describe('HttpTransportSchema', () => {
  it('fills the defaults and rejects unknown keys', () => {
    expect(HttpTransportSchema.parse({ type: 'http', port: 7420 })).toEqual({
      type: 'http',
      host: '127.0.0.1',
      port: 7420,
      maxBodyBytes: 65_536,
      requestTimeoutMs: 10_000,
      contentType: 'application/json',
    });
    expect(HttpTransportSchema.safeParse({ type: 'http', port: 7420, path: '/x' }).success).toBe(false);
    expect(HttpTransportSchema.safeParse({ type: 'http', port: 70000 }).success).toBe(false);
    expect(MessageFramingSchema.parse({ type: 'message' })).toEqual({ type: 'message', maxFrameBytes: 65_536 });
  });
});

describe('MessageFramer', () => {
  it('makes each chunk one frame, refuses an oversize one, ignores an empty one, encodes as is', () => {
    const f = new MessageFramer({ maxFrameBytes: 16 });
    expect(f.push(Buffer.from('{"a":1}\n{"b":2}'))).toEqual([
      { kind: 'frame', payload: Buffer.from('{"a":1}\n{"b":2}') },
    ]);
    expect(f.push(Buffer.alloc(17, 0x41))).toEqual([
      { kind: 'error', code: 'TB_FRAME_TOO_LARGE', message: 'message longer than 16 bytes discarded' },
    ]);
    expect(f.push(Buffer.alloc(0))).toEqual([]);
    expect(f.buffered()).toBe(0);
    const payload = Buffer.from('reply');
    expect(f.encode(payload)).toBe(payload);
  });
});

describe('HttpTransport POST', () => {
  it('delivers the body once and answers with the first write', async () => {
    const seen: string[] = [];
    const t = await serve('R1', (conn) => {
      conn.onData((chunk) => {
        seen.push(chunk.toString());
        conn.write(Buffer.from('{"type":"ack","id":"m-1"}'));
        conn.write(Buffer.from('ignored'));
      });
    });
    const res = await fetch(url(t, 'R1'), { method: 'POST', body: '{"type":"status","id":"m-1"}' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.text()).toBe('{"type":"ack","id":"m-1"}');
    expect(seen).toEqual(['{"type":"status","id":"m-1"}']);
    expect(t.describe()).toBe(`http://127.0.0.1:${t.port()}/v1/registers/R1/messages`);
  });

  it('uses the configured content type', async () => {
    const t = await serve('R1', echo('R1'), { contentType: 'application/xml; charset=utf-8' });
    const res = await fetch(url(t, 'R1'), { method: 'POST', body: '<x/>' });
    expect(res.headers.get('content-type')).toBe('application/xml; charset=utf-8');
    expect(await res.text()).toBe('R1:<x/>');
  });

  it('lets two registers share one port, each picked by the id in the path', async () => {
    const a = await serve('R1', echo('R1'));
    const b = await serve('R2', echo('R2'), { port: a.port() });
    expect(b.port()).toBe(a.port());
    const [ra, rb] = await Promise.all([
      fetch(url(a, 'R1'), { method: 'POST', body: 'one' }).then((r) => r.text()),
      fetch(url(b, 'R2'), { method: 'POST', body: 'two' }).then((r) => r.text()),
    ]);
    expect([ra, rb]).toEqual(['R1:one', 'R2:two']);

    await a.stop();
    started.splice(started.indexOf(a), 1);
    const gone = await fetch(url(b, 'R1'), { method: 'POST', body: 'one' });
    expect(gone.status).toBe(404);
    expect(await (await fetch(url(b, 'R2'), { method: 'POST', body: 'still' })).text()).toBe('R2:still');
  });

  it('refuses the same register id twice on one port', async () => {
    const a = await serve('R1', echo('R1'));
    const dup = new HttpTransport({
      ...HttpTransportSchema.parse({ type: 'http', port: a.port() }),
      register: 'R1',
      log,
    });
    await expect(dup.start(echo('R1'))).rejects.toMatchObject({ code: 'TB_CONFIG' });
    expect(await (await fetch(url(a, 'R1'), { method: 'POST', body: 'ok' })).text()).toBe('R1:ok');
  });

  it('answers 404 TB_NOT_FOUND for an unknown register or path', async () => {
    const t = await serve('R1', echo('R1'));
    const res = await fetch(url(t, 'R9'), { method: 'POST', body: 'x' });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 'TB_NOT_FOUND' });
    const other = await fetch(`http://127.0.0.1:${t.port()}/v1/registers`, { method: 'POST', body: 'x' });
    expect(other.status).toBe(404);
  });

  it('answers 405 to another method, and 400 to an empty body', async () => {
    const t = await serve('R1', echo('R1'));
    const get = await fetch(url(t, 'R1'));
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect(await get.json()).toMatchObject({ code: 'TB_INVALID' });
    expect((await fetch(url(t, 'R1'), { method: 'PUT', body: 'x' })).status).toBe(405);
    const empty = await fetch(url(t, 'R1'), { method: 'POST', body: '' });
    expect(empty.status).toBe(400);
    expect(await empty.json()).toMatchObject({ code: 'TB_MALFORMED' });
  });

  it('answers 413 to a body over maxBodyBytes, declared or chunked, and hands nothing on', async () => {
    let connections = 0;
    const t = await serve(
      'R1',
      (conn) => {
        connections++;
        echo('R1')(conn);
      },
      { maxBodyBytes: 64 },
    );
    const declared = await rawPost(t.port() ?? 0, '/v1/registers/R1/messages', Buffer.alloc(100, 0x41), {
      'content-length': 100,
    });
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body)).toMatchObject({ code: 'TB_FRAME_TOO_LARGE' });
    const chunked = await rawPost(t.port() ?? 0, '/v1/registers/R1/messages', Buffer.alloc(100, 0x41), {
      'transfer-encoding': 'chunked',
    });
    expect(chunked.status).toBe(413);
    const fits = await rawPost(t.port() ?? 0, '/v1/registers/R1/messages', Buffer.alloc(64, 0x41));
    expect(fits.status).toBe(200);
    expect(connections).toBe(1);
  });

  it('answers 504 when nothing is written within requestTimeoutMs, and reports the close', async () => {
    let closed = 0;
    const t = await serve('R1', (conn) => conn.onClose(() => closed++), { requestTimeoutMs: 150 });
    const res = await fetch(url(t, 'R1'), { method: 'POST', body: '{"id":"slow"}' });
    expect(res.status).toBe(504);
    expect(await res.json()).toMatchObject({ code: 'TB_INTERNAL' });
    expect(closed).toBe(1);
  });

  it('answers 408 when the body does not arrive within requestTimeoutMs', async () => {
    const t = await serve('R1', echo('R1'), { requestTimeoutMs: 150 });
    const answer = await new Promise<string>((resolve) => {
      const sock = connect(t.port() ?? 0, '127.0.0.1', () => {
        sock.write('POST /v1/registers/R1/messages HTTP/1.1\r\nhost: x\r\ncontent-length: 20\r\n\r\n{"id"');
      });
      let text = '';
      sock.on('data', (c: Buffer) => (text += c.toString()));
      sock.on('close', () => resolve(text));
    });
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 408 Request Timeout');
    expect(answer).toContain('"code":"TB_MALFORMED"');
  });

  it('answers what is not HTTP with 400 TB_MALFORMED (JSON), a CONNECT with 405, serves one without Host', async () => {
    const t = await serve('R1', echo('R1'));
    const rawAnswer = (text: string): Promise<string> =>
      new Promise((resolve) => {
        const sock = connect(t.port() ?? 0, '127.0.0.1', () => sock.write(text));
        let got = '';
        sock.on('data', (c: Buffer) => (got += c.toString()));
        sock.on('close', () => resolve(got));
      });
    const garbage = await rawAnswer('\x02{"id":"s1"}\x03\r\n\r\n');
    expect(garbage.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    expect(garbage).toContain('"code":"TB_MALFORMED"');
    const proxy = await rawAnswer('CONNECT hub.example:443 HTTP/1.1\r\nhost: hub.example:443\r\n\r\n');
    expect(proxy.split('\r\n')[0]).toBe('HTTP/1.1 405 Method Not Allowed');
    expect(proxy).toContain('"code":"TB_INVALID"'); // as any other method the register port does not take
    // a register's client that leaves out Host is served: only the path names the register
    const noHost = await rawAnswer(
      'POST /v1/registers/R1/messages HTTP/1.1\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi',
    );
    expect(noHost.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(noHost).toContain('R1:hi');
    expect((await fetch(url(t, 'R1'), { method: 'POST', body: 'x' })).status).toBe(200);
  });

  it('runs a register end to end: message framing, jsonl codec, canonical step, handler', async () => {
    const handled: RegisterMessage[] = [];
    const handler = {
      handle: (_register: string, m: RegisterMessage): Promise<RegisterReply> => {
        handled.push(m);
        return Promise.resolve({ type: 'ack', id: m.id });
      },
    };
    const cfg = HttpTransportSchema.parse({ type: 'http', port: 0 });
    const transport = new HttpTransport({ ...cfg, register: 'R1', log });
    const endpoint = new RegisterEndpoint(
      'R1',
      transport,
      () => new MessageFramer({ maxFrameBytes: 1024 }),
      new JsonlCodec(),
      handler,
      log,
    );
    await endpoint.start();
    try {
      const ok = await fetch(url(transport, 'R1'), {
        method: 'POST',
        body: '{"type":"status","id":"s-1","state":"open"}',
      });
      expect(await ok.json()).toEqual({ type: 'ack', id: 's-1' });
      const bad = await fetch(url(transport, 'R1'), { method: 'POST', body: '{not json' });
      expect(bad.status).toBe(200);
      expect(await bad.json()).toMatchObject({ type: 'error', code: 'TB_MALFORMED' });
      expect(handled.map((m) => m.id)).toEqual(['s-1']);
    } finally {
      await endpoint.stop();
    }
  });
});

describe('HttpTransport WebSocket', () => {
  it('answers several messages in order on one connection, as text', async () => {
    const t = await serve('R1', echo('R1'));
    const ws = await openWs(url(t, 'R1'));
    const got: { text: string; binary: boolean }[] = [];
    const all = new Promise<void>((resolve) =>
      ws.on('message', (data: Buffer, binary: boolean) => {
        got.push({ text: data.toString(), binary });
        if (got.length === 3) resolve();
      }),
    );
    ws.send('a');
    ws.send('b');
    ws.send('c');
    await all;
    expect(got).toEqual([
      { text: 'R1:a', binary: false },
      { text: 'R1:b', binary: false },
      { text: 'R1:c', binary: false },
    ]);
    ws.close();
  });

  it('hands on a message a little over maxBodyBytes (the framing refuses it), closes one far over (1009)', async () => {
    const t = await serve('R1', echo('R1'), { maxBodyBytes: 64 });
    const ws = await openWs(url(t, 'R1'));
    const code = new Promise<number>((resolve) => ws.once('close', (c: number) => resolve(c)));
    const echoed = new Promise<string>((resolve) => ws.once('message', (m: Buffer) => resolve(m.toString())));
    ws.send('x'.repeat(64 * WS_OVERSIZE_CLOSE));
    expect(await echoed).toBe(`R1:${'x'.repeat(64 * WS_OVERSIZE_CLOSE)}`);
    ws.send('x'.repeat(64 * WS_OVERSIZE_CLOSE + 1));
    expect(await code).toBe(1009);
  });

  it('refuses an upgrade on an unknown register with 404', async () => {
    const t = await serve('R1', echo('R1'));
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(url(t, 'R9').replace('http:', 'ws:'));
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => resolve(-1));
    });
    expect(status).toBe(404);
  });

  it('reports a register closing, and closes the socket when the agent does', async () => {
    const conns: Connection[] = [];
    let closed = 0;
    const t = await serve('R1', (conn) => {
      conns.push(conn);
      conn.onClose(() => closed++);
    });
    const first = await openWs(url(t, 'R1'));
    const firstGone = new Promise((r) => first.once('close', r));
    first.close();
    await firstGone;
    await expect.poll(() => closed).toBe(1);
    let lateToldClosed = false;
    conns[0]?.onClose(() => (lateToldClosed = true));
    await expect.poll(() => lateToldClosed).toBe(true);

    const second = await openWs(url(t, 'R1'));
    const code = new Promise<number>((resolve) => second.once('close', (c: number) => resolve(c)));
    await expect.poll(() => conns.length).toBe(2);
    conns[1]?.close();
    expect(await code).toBe(1000);
    await expect.poll(() => closed).toBe(2);
  });

  it('closes open sockets when the transport stops', async () => {
    const t = await serve('R1', echo('R1'));
    const ws = await openWs(url(t, 'R1'));
    const gone = new Promise((r) => ws.once('close', r));
    await t.stop();
    started.splice(started.indexOf(t), 1);
    await gone;
    expect(ws.readyState).toBe(WebSocket.CLOSED);
  });
});
