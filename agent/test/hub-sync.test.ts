import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { AGENT_WS_PATH, CloseCodes, TOKEN_PATH, WIRE_VERSION, WIRE_VERSION_MIN } from '@tillbridge/shared';
import type { Db } from '../src/db/agent-db.js';
import { Outbox } from '../src/sync/outbox.js';
import { HubLink } from '../src/sync/hub-link.js';
import { Uploader } from '../src/sync/uploader.js';
import { AgentIdentity } from '../src/sync/identity.js';
import { capturedLog } from '../../test/support/log.js';
import { agentFrameText } from '../../test/support/ws.js';
import { testLinkOptions } from './support/link-options.js';
import { closeTempDb, openTempDb } from './support/temp-store.js';

/**
 * DESIGN rule 9 at the agent, against a scripted hub on a real socket: the agent never deletes an
 * outbox row the hub has not confirmed by acking the batch that carried it, says which
 * incarnation of its database it is, starts a new one when the hub asks, and shows a refusal.
 */

interface Frame {
  t: string;
  [k: string]: unknown;
}

/** A hub double: the token endpoint and the agents' WebSocket, each connection handed to the test. */
class ScriptedHub {
  private readonly http: Server = createServer((req, res) => {
    if (req.method === 'POST' && req.url === TOKEN_PATH) {
      req.resume();
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ accessToken: 'token', expiresIn: 900 }));
    } else res.writeHead(404).end();
  });
  private readonly wss = new WebSocketServer({ server: this.http, path: AGENT_WS_PATH });
  private readonly connections: {
    ws: WebSocket;
    frames: Frame[];
    /** the types of the frames that came as binary (compressed) messages, in order */
    binary: string[];
    waiting: { t: string; resolve: (f: Frame) => void }[];
  }[] = [];
  private readonly waitingConn: ((i: number) => void)[] = [];

  constructor() {
    this.wss.on('connection', (ws) => {
      const c = {
        ws,
        frames: [] as Frame[],
        binary: [] as string[],
        waiting: [] as { t: string; resolve: (f: Frame) => void }[],
      };
      this.connections.push(c);
      ws.on('message', (data, isBinary) => {
        const f = JSON.parse(agentFrameText(data, isBinary)) as Frame;
        c.frames.push(f);
        if (isBinary) c.binary.push(f.t);
        const i = c.waiting.findIndex((w) => w.t === f.t);
        if (i >= 0) c.waiting.splice(i, 1)[0]!.resolve(f);
      });
      this.waitingConn.shift()?.(this.connections.length - 1);
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((r) => this.http.listen(0, '127.0.0.1', r));
    return `ws://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
  }

  /** The n-th connection (0-based), once it is open. */
  async connection(n: number): Promise<{
    ws: WebSocket;
    next: (t: string) => Promise<Frame>;
    send: (f: unknown) => void;
    binary: string[];
  }> {
    while (this.connections.length <= n) await new Promise<number>((r) => this.waitingConn.push(r));
    const c = this.connections[n]!;
    const taken = new Set<Frame>();
    return {
      ws: c.ws,
      // the next frame of type `t` not yet returned
      next: (t) => {
        const seen = c.frames.find((f) => f.t === t && !taken.has(f));
        if (seen) {
          taken.add(seen);
          return Promise.resolve(seen);
        }
        return new Promise((r, reject) => {
          const timer = setTimeout(() => reject(new Error(`the agent sent no "${t}" frame within 10 s`)), 10_000);
          c.waiting.push({
            t,
            resolve: (f) => {
              clearTimeout(timer);
              taken.add(f);
              r(f);
            },
          });
        });
      },
      send: (f) => c.ws.send(JSON.stringify(f)),
      binary: c.binary,
    };
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.ws.terminate();
    await new Promise<void>((r) => this.wss.close(() => r()));
    await new Promise<void>((r) => this.http.close(() => r()));
  }
}

const { log, lines: logged } = capturedLog('info');

let temp: { dir: string; db: Db };
let db: Db;
let hub: ScriptedHub;
let outbox: Outbox;
let identity: AgentIdentity;
let link: HubLink;
let uploader: Uploader;
let abort: AbortController;
/** The agent's clock here, set by the tests: years from today, whatever the date. */
const T0 = Date.parse('2031-03-14T09:26:53.000Z');
let clockMs: number;
const now = (): number => clockMs;

beforeEach(async () => {
  logged.length = 0;
  clockMs = T0;
  temp = openTempDb('tb-agent-sync-');
  db = temp.db;
  outbox = new Outbox(db, now);
  identity = new AgentIdentity(db);
  hub = new ScriptedHub();
  const url = await hub.listen();
  link = new HubLink({
    ...testLinkOptions(url, log),
    apiKey: () => 'tbk_test',
    agentId: identity.agentId,
    hello: () => ({ incarnation: identity.incarnation, newest: outbox.newest() }),
    now,
  });
  // as the composition root does
  link.events.on('incarnation', () => identity.renew());
  uploader = new Uploader(outbox, link, { batchMax: 100, retryBaseMs: 20, retryCapMs: 100, log, now });
  uploader.start();
  abort = new AbortController();
});

afterEach(async () => {
  uploader.stop();
  abort.abort();
  await link.stopped();
  await hub.close();
  closeTempDb(temp);
});

const sell = (receipt: string): number => db.transaction(() => outbox.append('sale', 'R1', { receipt }).seq)();
const seqs = (): number[] => db.prepare(`SELECT seq FROM outbox ORDER BY seq`).pluck().all() as number[];
const welcome = (lastSeq: number) => ({
  t: 'welcome',
  v: WIRE_VERSION,
  store: 'S1',
  lastSeq,
  serverTime: '2026-11-27T10:00:00.000Z',
  cardKey: 'a2V5',
});

describe('compressed frames (protocol 4)', () => {
  it.each([
    [WIRE_VERSION, ['events']],
    [3, []],
  ])('welcomed at protocol %i, sends its events deflated: %j', async (v, binary) => {
    for (const r of ['A', 'B', 'C']) sell(r);
    link.start(abort.signal);
    const c = await hub.connection(0);
    await c.next('hello');
    c.send({ ...welcome(0), v });
    const events = await c.next('events');
    expect((events.items as { seq: number }[]).map((i) => i.seq)).toEqual([1, 2, 3]);
    expect(c.binary).toEqual(binary);
  });
});

describe('the agent and a restored, reverted or copied database (DESIGN rule 9)', () => {
  it('says hello with its incarnation and the newest seq it ever gave, even when the outbox is empty', async () => {
    for (const r of ['A', 'B', 'C']) sell(r);
    db.prepare(`DELETE FROM outbox`).run();
    link.start(abort.signal);
    const c = await hub.connection(0);
    expect(await c.next('hello')).toEqual({
      t: 'hello',
      v: WIRE_VERSION,
      min: WIRE_VERSION_MIN,
      agent: identity.agentId,
      incarnation: identity.incarnation,
      newest: 3,
      software: 'test',
      run: expect.any(String),
      attempt: 1,
    });
    expect(new AgentIdentity(db).incarnation).toBe(identity.incarnation); // kept in the database
  });

  it(
    'deletes nothing on the welcome, sends its whole outbox again, ' + 'and deletes only the batch an ack confirms',
    async () => {
      for (const r of ['A', 'B', 'C']) sell(r);
      link.start(abort.signal);
      const c = await hub.connection(0);
      await c.next('hello');
      // a hub whose cursor is past every row here (another copy of this database went on)
      c.send(welcome(10));
      const first = await c.next('events');
      expect((first.items as { seq: number }[]).map((i) => i.seq)).toEqual([1, 2, 3]);
      expect(seqs()).toEqual([1, 2, 3]);

      // a sale while the batch is in flight; the ack even claims more than the batch
      expect(sell('D')).toBe(4);
      c.send({ t: 'ack', upTo: 10, results: [1, 2, 3].map((seq) => ({ seq, outcome: 'duplicate' })) });
      const second = await c.next('events');
      expect((second.items as { seq: number }[]).map((i) => i.seq)).toEqual([4]);
      expect(seqs()).toEqual([4]);
      c.send({ t: 'ack', upTo: 4, results: [{ seq: 4, outcome: 'applied' }] });
      await waitUntil(() => seqs().length === 0);
    },
  );

  it('starts a new incarnation when the hub closes with 4011, and sends everything again under it', async () => {
    for (const r of ['A', 'B']) sell(r);
    const before = identity.incarnation;
    link.start(abort.signal);
    const c0 = await hub.connection(0);
    const first = await c0.next('hello');
    expect(first).toMatchObject({ incarnation: before, newest: 2, attempt: 1 });
    c0.ws.close(CloseCodes.NEW_INCARNATION, 'behind: newest seq 2, the hub applied up to 5; start a new incarnation');

    const c1 = await hub.connection(1);
    const hello = await c1.next('hello');
    // the same run of the agent, its next connection: the hub never lets an older one displace it
    expect(hello).toMatchObject({ newest: 2, run: first.run, attempt: 2 });
    expect(hello.incarnation).not.toBe(before);
    expect(new AgentIdentity(db).incarnation).toBe(hello.incarnation); // committed before the hello
    expect(seqs()).toEqual([1, 2]);
    c1.send(welcome(0));
    expect(((await c1.next('events')).items as { seq: number }[]).map((i) => i.seq)).toEqual([1, 2]);
  });

  it(
    'shows a refusal as a second live copy (4010), keeps its sales, ' +
      'tries again slowly, and clears it once welcomed',
    async () => {
      sell('A');
      link.start(abort.signal);
      const c0 = await hub.connection(0);
      await c0.next('hello');
      c0.ws.close(
        CloseCodes.DUPLICATE_AGENT,
        'another copy of this agent (same database) is connected to the hub: this one is refused',
      );

      const c1 = await hub.connection(1);
      await c1.next('hello');
      expect(link.info()).toMatchObject({
        connected: false,
        refused: {
          code: 'TB_DUPLICATE_AGENT',
          reason: expect.stringMatching(/another copy/),
          at: new Date(T0).toISOString(),
        },
      });
      expect(logged.find((l) => l.code === 'TB_DUPLICATE_AGENT')).toMatchObject({
        level: 50,
        msg: expect.stringMatching(/another copy of this agent/),
      });
      expect(seqs()).toEqual([1]);

      c1.send(welcome(0));
      await c1.next('events');
      expect(link.info().refused).toBeUndefined();
    },
  );
});

describe("the link and the uploader keep the agent's clock", () => {
  it("for the events' times, the connection's start and the last sync", async () => {
    clockMs = T0 + 1_000;
    sell('A');
    link.start(abort.signal);
    const c = await hub.connection(0);
    await c.next('hello');
    clockMs = T0 + 2_000;
    c.send(welcome(0));
    const events = await c.next('events');
    expect(events.items).toEqual([expect.objectContaining({ seq: 1, at: new Date(T0 + 1_000).toISOString() })]);
    expect(link.info().since).toBe(new Date(T0 + 2_000).toISOString());
    expect(uploader.lastSync()).toBeUndefined();
    clockMs = T0 + 3_000;
    c.send({ t: 'ack', upTo: 1, results: [{ seq: 1, outcome: 'applied' }] });
    await waitUntil(() => uploader.lastSync() !== undefined);
    expect(uploader.lastSync()).toBe(new Date(T0 + 3_000).toISOString());
  });
});

async function waitUntil(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 10));
}
