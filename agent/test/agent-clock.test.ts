import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, type Clock, type RegisterMessage, type RegisterReply } from '@tillbridge/shared';
import { agentConfig } from '@tillbridge/scripts/lib/cluster';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { startAgent, type RunningAgent } from '../src/agent.js';
import { parseAgentConfig } from '../src/config.js';
import { readStatus } from '../src/cli/status-command.js';
import { agentDbPath, openAgentDb, type Db } from '../src/db/agent-db.js';
import { MetaSecrets } from '../src/db/meta-secrets.js';
import { StorageHealth } from '../src/db/storage-health.js';
import { AuthzCounter } from '../src/core/authz-counters.js';
import { ApiKeyStore } from '../src/sync/api-key-store.js';
import { TerminalReporter } from '../src/sync/terminal-reporter.js';
import { RegisterEndpoint } from '../src/gateway/register-endpoint.js';
import { LineFramer } from '../src/gateway/framing/line.js';
import { JsonlCodec } from '../src/gateway/codecs/jsonl.js';
import type { Connection, MessageHandler, Transport } from '../src/gateway/types.js';
import { cashSale } from './support/register-messages.js';
import { recordingLink, steadyRegister } from './support/terminal-reports.js';

/**
 * Every time of day the agent writes or reports is its clock's (the composition root's), not the
 * system's: shown with a settable clock years away from today, so a component that still read the
 * system's time would be found out on any date.
 */
class SettableClock implements Clock {
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
}

const T0 = Date.parse('2031-03-14T09:26:53.000Z');
const iso = (ms: number): string => new Date(ms).toISOString();
const log = createLogger({ name: 'test', level: 'silent' });
const CONFIG_KEY = 'tbk_0123456789abcdefghjkmnpqrstvwxyz0123456_abcdef';

let dir: string;
let clock: SettableClock;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tb-agent-clock-'));
  clock = new SettableClock(T0);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("the agent's parts read the clock they are given", () => {
  it('authorization counters: since', () => {
    expect(new AuthzCounter(() => clock.now()).snapshot().since).toBe(iso(T0));
  });

  it('a rotated-in API key: when it was stored', () => {
    const db = openAgentDb(dir);
    try {
      const secrets = new MetaSecrets(db, CONFIG_KEY);
      new ApiKeyStore(db, secrets, () => clock.now()).store(
        'tbk_zyxwvtsr',
        'tbk_zyxwvtsrqpnmkjhgfedcba9876543210zyxwvtsr_fedcba',
      );
      expect(JSON.parse(secrets.get('api_key')!)).toMatchObject({ id: 'tbk_zyxwvtsr', storedAt: iso(T0) });
    } finally {
      db.close();
    }
  });

  it('storage health: when a write failed', () => {
    const health = new StorageHealth(() => clock.now());
    health.failed('policy', Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }));
    expect(health.view().lastError).toEqual({
      what: 'policy',
      code: 'SQLITE_FULL',
      message: 'database or disk is full',
      at: iso(T0),
    });
  });

  it("terminal status sent to the hub: each register's `at`", () => {
    const link = recordingLink(5);
    const endpoint = steadyRegister({
      id: 'R1',
      transport: 'tcp://127.0.0.1:7410',
      codec: 'jsonl',
      connected: 1,
      state: 'connected',
    });
    const reporter = new TerminalReporter(link, [endpoint], () => clock.now());
    reporter.start();
    reporter.reportAll();
    reporter.stop();
    expect(link.sent).toEqual([
      {
        t: 'terminal',
        items: [
          {
            register: 'R1',
            codec: 'jsonl',
            state: 'connected',
            transport: 'tcp://127.0.0.1:7410',
            connections: 1,
            at: iso(T0),
          },
        ],
      },
    ]);
  });
});

/** A transport in memory: the test is the register on its one connection. */
class MemoryRegister implements Transport, Connection {
  readonly id = 'mem-1';
  readonly remote = 'memory';
  readonly written: string[] = [];
  private data: ((chunk: Buffer) => void) | undefined;
  private readonly waiting: ((line: string) => void)[] = [];
  start(onConnection: (conn: Connection) => void): Promise<void> {
    onConnection(this);
    return Promise.resolve();
  }
  stop(): Promise<void> {
    return Promise.resolve(); // nothing to stop: the one connection lives as long as the test
  }
  describe(): string {
    return 'memory://R1';
  }
  write(data: Buffer): void {
    const line = data.toString('utf8').trimEnd();
    const w = this.waiting.shift();
    if (w) w(line);
    else this.written.push(line);
  }
  close(): void {
    /* the test ends the connection by dropping it */
  }
  pause(): void {
    /* no flow control in memory */
  }
  resume(): void {
    /* no flow control in memory */
  }
  onData(listener: (chunk: Buffer) => void): void {
    this.data = listener;
  }
  onClose(): void {
    /* never closes on its own */
  }
  /** The next reply. */
  next(): Promise<Record<string, unknown>> {
    const ready = this.written.shift();
    const line =
      ready !== undefined ? Promise.resolve(ready) : new Promise<string>((resolve) => this.waiting.push(resolve));
    return line.then((l) => JSON.parse(l) as Record<string, unknown>);
  }
  /** Sends bytes; resolves with the next reply. */
  send(text: string): Promise<Record<string, unknown>> {
    this.data!(Buffer.from(text));
    return this.next();
  }
  /** Sends bytes that complete no frame. */
  part(text: string): void {
    this.data!(Buffer.from(text));
  }
}

describe("a register endpoint reads the agent's clock", () => {
  const acks: MessageHandler = {
    handle: (_r: string, m: RegisterMessage): Promise<RegisterReply> => Promise.resolve({ type: 'ack', id: m.id }),
  };
  const endpoint = (reg: MemoryRegister): RegisterEndpoint =>
    new RegisterEndpoint(
      'R1',
      reg,
      () => new LineFramer({ terminator: '\n', maxFrameBytes: 4096, interByteTimeoutMs: 1000 }),
      new JsonlCodec(),
      acks,
      log,
      { now: () => clock.now() },
    );

  it('for the state the register reported and its last message', async () => {
    const reg = new MemoryRegister();
    const e = endpoint(reg);
    await e.start();
    expect(await reg.send('{"type":"status","id":"s-1","state":"paper_out"}\n')).toEqual({ type: 'ack', id: 's-1' });
    expect(e.status()).toMatchObject({ reported: { state: 'paper_out', at: iso(T0) }, lastMessageAt: iso(T0) });
    clock.t = T0 + 5 * 60_000;
    await reg.send('{"type":"status","id":"s-2","state":"ready"}\n');
    expect(e.status()).toMatchObject({
      reported: { state: 'ready', at: iso(T0 + 5 * 60_000) },
      lastMessageAt: iso(T0 + 5 * 60_000),
    });
  });

  it('and hands it to the framer: a partial frame is stale after the inter-byte timeout on that clock', async () => {
    const reg = new MemoryRegister();
    await endpoint(reg).start();
    // 999 ms of silence on the clock (none in real time): still one frame
    reg.part('{"type":"status",');
    clock.t += 999;
    expect(await reg.send('"id":"s-3","state":"ready"}\n')).toEqual({ type: 'ack', id: 's-3' });
    // 1001 ms: the start is discarded, and the rest alone is no message
    reg.part('{"type":"status",');
    clock.t += 1001;
    expect(await reg.send('"id":"s-4","state":"ready"}\n')).toMatchObject({
      type: 'error',
      code: 'TB_MALFORMED',
      message: 'incomplete frame discarded after 1000 ms of silence',
    });
    expect(await reg.next()).toMatchObject({ type: 'error', code: 'TB_MALFORMED' });
    expect(reg.written).toEqual([]);
  });
});

describe('the composition root gives its clock to every part', () => {
  let agent: RunningAgent | undefined;
  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
  });

  it(
    "the times written to the database and shown in status are the clock's, " +
      "and so is the outbox's age after a stop",
    async () => {
      // no hub: this is about what the agent writes and shows on its own
      const raw = agentConfig({ dir, store: 'S1', apiKey: CONFIG_KEY, hubWsUrl: 'ws://127.0.0.1:9' });
      raw.log = { level: 'silent' };
      const config = parseAgentConfig(raw);
      agent = await startAgent(config, log, { clock });
      const reg = await JsonLinesRegister.connect(agent.registerPort('R1')!);
      clock.t = T0 + 60_000;
      expect(await reg.send(cashSale('m-1', 'C-1', '2031-03-14T09:27:00Z', 1, 500))).toEqual({
        type: 'ack',
        id: 'm-1',
      });
      clock.t = T0 + 120_000;
      expect(await reg.send({ type: 'status', id: 'm-2', state: 'paper_out' })).toEqual({ type: 'ack', id: 'm-2' });
      clock.t = T0 + 150_000;
      const s = agent.status();
      expect(s.startedAt).toBe(iso(T0));
      expect(s.registers[0]).toMatchObject({
        reported: { state: 'paper_out', at: iso(T0 + 120_000) },
        lastMessageAt: iso(T0 + 120_000),
      });
      expect(s.outbox).toEqual({ depth: 1, oldestAgeMs: 90_000 });
      reg.close();
      await agent.stop();
      agent = undefined;

      const db: Db = new Database(agentDbPath(config.dataDir), { readonly: true });
      try {
        expect(db.prepare(`SELECT kind, at, created_ms FROM outbox`).all()).toEqual([
          { kind: 'sale', at: iso(T0 + 60_000), created_ms: T0 + 60_000 },
        ]);
        expect(db.prepare(`SELECT created_ms FROM receipts`).all()).toEqual([{ created_ms: T0 + 60_000 }]);
        expect(db.prepare(`SELECT msg_id, created_ms FROM replies ORDER BY msg_id`).all()).toEqual([
          { msg_id: 'm-1', created_ms: T0 + 60_000 },
          { msg_id: 'm-2', created_ms: T0 + 120_000 },
        ]);
        expect(db.prepare(`SELECT register, state, at FROM terminal_status`).all()).toEqual([
          { register: 'R1', state: 'paper_out', at: iso(T0 + 120_000) },
        ]);
      } finally {
        db.close();
      }
      // the agent stopped: `status` reads its outbox, its age on the clock the agent runs on
      const stopped = await readStatus(config, 'agent.json', () => T0 + 600_000);
      expect(stopped).toMatchObject({ running: false, outbox: { depth: 1, oldestAgeMs: 540_000 } });
    },
  );
});
