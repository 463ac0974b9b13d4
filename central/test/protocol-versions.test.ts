import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { arch, platform, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  AGENT_WS_PATH,
  CloseCodes,
  createLogger,
  TbCodes,
  WIRE_VERSION,
  WIRE_VERSION_MIN,
  negotiateProtocol,
} from '@tillbridge/shared';
import { createTestDatabase as createPgDatabase, pgUnavailable, testBackend } from '@tillbridge/scripts/lib/pg-test-db';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { HubLink, type HubLinkOptions } from '../../agent/src/sync/hub-link.js';
import { testLinkOptions } from '../../agent/test/support/link-options.js';
import { formatStatus } from '../../agent/src/status/status-report.js';
import { initHub, startHub, type RunningHub } from '../src/hub.js';
import { secretPath } from '../src/auth/secrets.js';
import { signingKeyPath } from '../src/audit/signing-key.js';
import { agentVersionCommands } from '../src/cli/commands/agent-versions.js';
import { storeCommands } from '../src/cli/commands/stores.js';
import { statusCommands } from '../src/cli/commands/status.js';
import { AdminClient } from '../src/cli/admin-client.js';
import { belowVersion, agentVersionOf } from '../src/domain/agent-versions.js';
import { runCli } from './cli-run.js';
import { agentToken, silent, TestClock, wireHello } from './helpers.js';
import { agentSocket, type AgentSocket } from './agent-socket.js';
import { wsText } from '../../test/support/ws.js';

/**
 * Protocol versions on connect (docs/upgrade.md "Agent and hub versions"), over real WebSockets to
 * a real hub: hellos of fake older and newer agents, and the real agent's link. What the hub then
 * records of each agent (version, OS, uptime) and flags against the operator's minimum version,
 * through the admin API and the CLI; on PostgreSQL, what one hub process holds, another shows.
 * Runs on SQLite, or PostgreSQL with TILLBRIDGE_TEST_BACKEND=postgres.
 */

type FakeAgent = AgentSocket;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function hubOn(
  database?: string,
  dir?: string,
): Promise<{ running: RunningHub; adminToken: string; clock: TestClock; dir: string }> {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'tb-proto-'));
  const clock = new TestClock();
  let adminToken = '';
  if (!dir) adminToken = initHub(d, silent, clock, database).adminToken;
  const running = await startHub({
    dataDir: d,
    host: '127.0.0.1',
    port: 0,
    log: silent,
    clock,
    database,
    agentProbeMs: 1000,
    processes: { heartbeatMs: 100, timeoutMs: 5000 },
  });
  cleanups.push(async () => {
    await running.stop();
    rmSync(d, { recursive: true, force: true });
  });
  return { running, adminToken, clock, dir: d };
}

async function oneHub(): Promise<{ running: RunningHub; adminToken: string; clock: TestClock }> {
  let url: string | undefined;
  if (testBackend() === 'postgres') {
    const db = createPgDatabase('tb_proto');
    cleanups.push(() => db.drop());
    url = db.url;
  }
  return hubOn(url);
}

async function storeToken(running: RunningHub, store: string): Promise<{ token: string; apiKey: string }> {
  const hub = running.hub;
  if (!hub.stores.get(store)) hub.stores.create(store, store);
  const apiKey = hub.credentials.createApiKey(store);
  return { token: await agentToken(hub, store), apiKey };
}

function connect(running: RunningHub, token: string): Promise<FakeAgent> {
  const url = new URL(AGENT_WS_PATH, running.wsUrl).toString();
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
  cleanups.push(() => ws.terminate());
  const agent = agentSocket(ws);
  return new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.once('open', () => resolve(agent));
  });
}

interface AgentOs {
  platform: string;
  release: string;
  arch: string;
}

/** The hello of an agent speaking protocols 2 to 3 (or to `v`), on its first connection (i1, nothing sent). */
function rangedHello(agent: string, software: string, os: AgentOs, startedAt: string, v = 3): Record<string, unknown> {
  return wireHello(agent, { v, min: 2, software, os, startedAt });
}

/**
 * A stand-in hub on a free port: its token endpoint hands out any token, and each message on a
 * WebSocket goes to `onMessage`. Closed after the test; resolves to the port.
 */
async function fakeHub(onMessage: (ws: WebSocket, data: WebSocket.RawData) => void): Promise<number> {
  const { WebSocketServer } = await import('ws');
  const { createServer } = await import('node:http');
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ accessToken: 'tok', expiresIn: 900 }));
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (data) => onMessage(ws, data)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        wss.close();
        server.close(() => r());
      }),
  );
  return (server.address() as { port: number }).port;
}

/** The options of the real agent's link to `url` as store S1, spread over the agent tests' defaults. */
function linkOptions(url: string, fields: Partial<HubLinkOptions>): HubLinkOptions {
  return {
    ...testLinkOptions(url, silent),
    apiKey: () => 'key',
    agentId: 'ag-real',
    software: 'tillbridge-agent/0.1.0',
    ...fields,
  };
}

/** A fake agent on `token`'s store that has said `hello` and been welcomed. */
async function welcomed(running: RunningHub, token: string, hello: Record<string, unknown>): Promise<FakeAgent> {
  const agent = await connect(running, token);
  agent.send(hello);
  await agent.next('welcome');
  return agent;
}

interface StatusBody {
  minAgentVersion: string | null;
  stores: {
    store: string;
    agent: {
      software: string | null;
      version: string | null;
      os: unknown;
      startedAt: string | null;
      uptimeMs: number | null;
      protocol: number;
      belowMinimum: boolean;
    } | null;
  }[];
}

describe('negotiation', () => {
  it('picks the highest version both speak, or names the side to upgrade', () => {
    expect(negotiateProtocol({ min: 2, max: 3 }, { min: 2, max: 2 })).toEqual({ version: 2 });
    expect(negotiateProtocol({ min: 2, max: 3 }, { min: 2, max: 7 })).toEqual({ version: 3 });
    expect(negotiateProtocol({ min: 3, max: 4 }, { min: 1, max: 2 })).toEqual({ agentTooOld: true });
    expect(negotiateProtocol({ min: 2, max: 3 }, { min: 5, max: 6 })).toEqual({ agentTooOld: false });
    expect(agentVersionOf('tillbridge-agent/0.10.2')).toBe('0.10.2');
    expect(belowVersion('0.9.9', '0.10.0')).toBe(true);
    expect(belowVersion('0.10.0', '0.10.0')).toBe(false);
    expect(belowVersion(undefined, '0.10.0')).toBe(false);
  });
});

describe('the hub on connect', () => {
  it('refuses an agent too old for it with a close code and a reason that says what to install', async () => {
    const { running } = await oneHub();
    const { token } = await storeToken(running, 'S1');
    const a = await connect(running, token);
    a.send(wireHello('ag-old', { v: WIRE_VERSION_MIN - 1, software: 'tillbridge-agent/0.0.1' }));
    const closed = await a.closed;
    expect(closed.code).toBe(CloseCodes.PROTOCOL_VERSION);
    expect(closed.reason).toMatch(
      new RegExp(
        `^this hub needs tillbridge-agent >= \\d+\\.\\d+\\.\\d+ \\(protocol >= ${WIRE_VERSION_MIN}\\); ` +
          'install it \\(docs/upgrade\\.md\\)$',
      ),
    );
    expect(a.frames.map((f) => f.t)).not.toContain('welcome');
    expect(running.hub.presence.get('S1').connected).toBe(false);
  });

  it('refuses an agent that needs a newer hub, saying so', async () => {
    const { running } = await oneHub();
    const { token } = await storeToken(running, 'S1');
    const a = await connect(running, token);
    a.send(wireHello('ag-future', { v: WIRE_VERSION + 3, min: WIRE_VERSION + 2 }));
    expect(await a.closed).toMatchObject({
      code: CloseCodes.PROTOCOL_VERSION,
      reason: expect.stringMatching(/needs a newer tillbridge-hub.*upgrade the hub/),
    });
  });

  it(
    'welcomes an agent of the previous protocol (a hello without a range) on its version, and a newer agent on the ' +
      'shared one',
    async () => {
      const { running } = await oneHub();
      const { token } = await storeToken(running, 'S1');
      const { token: t2 } = await storeToken(running, 'S2');
      // the agent as shipped before negotiation: v 2, no range, no OS
      const old = await connect(running, token);
      old.send(wireHello('ag-old', { v: 2, software: 'tillbridge-agent/0.1.0' }));
      expect((await old.next('welcome')).v).toBe(2);
      // a newer agent speaking 2..9: the hub's newest
      const newer = await connect(running, t2);
      newer.send(
        rangedHello(
          'ag-new',
          'tillbridge-agent/0.9.0',
          { platform: 'linux', release: '6.1.0', arch: 'x64' },
          '2026-11-27T07:00:00.000Z',
          9,
        ),
      );
      expect((await newer.next('welcome')).v).toBe(WIRE_VERSION);
      // and it works on it: an event is applied and acked
      newer.send({
        t: 'events',
        items: [
          {
            seq: 1,
            id: 'e-new-1',
            kind: 'sale',
            register: 'R1',
            at: '2026-11-27T10:00:00.000Z',
            body: {
              requestId: 'm-1',
              receipt: 'N1',
              at: '2026-11-27T10:00:00Z',
              currency: 'EUR',
              lines: [{ line: 1, sku: 'A', qty: 1, unitPrice: 100 }],
              tenders: [],
            },
          },
        ],
      });
      expect(await newer.next('ack')).toMatchObject({ upTo: 1, results: [{ outcome: 'applied' }] });
      expect(running.hub.presence.get('S1').agent).toEqual({ protocol: 2, software: 'tillbridge-agent/0.1.0' });
      expect(running.hub.presence.get('S2').agent).toEqual({
        protocol: WIRE_VERSION,
        software: 'tillbridge-agent/0.9.0',
        os: { platform: 'linux', release: '6.1.0', arch: 'x64' },
        startedAt: Date.parse('2026-11-27T07:00:00.000Z'),
      });
    },
  );
});

describe('agent versions in status and stores list, and the minimum version', () => {
  it(
    'shows version, OS and uptime (and --json); ' + 'flags agents below the minimum the operator set (audited)',
    async () => {
      const { running, adminToken } = await oneHub();
      const { token } = await storeToken(running, 'S1');
      const { token: t2 } = await storeToken(running, 'S2');
      const win = { platform: 'win32', release: '10.0.19045', arch: 'x64' };
      await welcomed(running, token, rangedHello('ag-1', 'tillbridge-agent/0.1.0', win, '2026-11-27T08:58:00.000Z'));
      const arm = { platform: 'linux', release: '6.1.0', arch: 'arm64' };
      await welcomed(running, t2, rangedHello('ag-2', 'tillbridge-agent/0.3.0', arm, '2026-11-26T09:00:00.000Z'));

      const cli = (args: string[]) =>
        runCli(
          (ctx) => {
            storeCommands(ctx);
            agentVersionCommands(ctx);
            statusCommands(ctx);
          },
          running.url,
          adminToken,
          args,
        );
      // hub clock: 2026-11-27T10:00:00Z (TestClock)
      let status = await new AdminClient(running.url, adminToken).get<StatusBody>('/v1/admin/status');
      expect(status.minAgentVersion).toBeNull();
      expect(status.stores.find((s) => s.store === 'S1')!.agent).toEqual({
        software: 'tillbridge-agent/0.1.0',
        version: '0.1.0',
        os: { platform: 'win32', release: '10.0.19045', arch: 'x64' },
        startedAt: '2026-11-27T08:58:00.000Z',
        uptimeMs: 62 * 60_000,
        protocol: 3,
        belowMinimum: false,
      });

      const set = await cli(['stores', 'min-version', '0.2.0']);
      expect(set).toMatchObject({
        code: 0,
        stdout: expect.stringContaining('minimum agent version is now 0.2.0 (was none)'),
      });
      const bad = await cli(['stores', 'min-version', '0.2']);
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toContain('version: expected MAJOR.MINOR.PATCH');
      const entry = running.hub.audit.tail(5).find((e) => e.action === 'config.min_agent_version');
      expect(entry).toMatchObject({ outcome: 'updated', details: JSON.stringify({ from: null, to: '0.2.0' }) });

      status = await new AdminClient(running.url, adminToken).get<StatusBody>('/v1/admin/status');
      expect(status.minAgentVersion).toBe('0.2.0');
      expect(Object.fromEntries(status.stores.map((s) => [s.store, s.agent?.belowMinimum]))).toEqual({
        S1: true,
        S2: false,
      });

      const text = await cli(['status']);
      expect(text.stdout).toContain(
        'agent S1: tillbridge-agent/0.1.0 BELOW MINIMUM 0.2.0 (protocol 3), win32 10.0.19045 x64, up 1h 2m',
      );
      expect(text.stdout).toContain('agent S2: tillbridge-agent/0.3.0 (protocol 3), linux 6.1.0 arm64, up 1d 1h');
      expect(text.stdout).toContain('minimum agent version 0.2.0: 1 connected agent(s) BELOW it');
      const list = await cli(['stores', 'list']);
      expect(list.stdout).toMatch(/S1 .*tillbridge-agent\/0\.1\.0 BELOW MINIMUM 0\.2\.0/);
      const json = JSON.parse((await cli(['stores', 'list', '--json'])).stdout) as {
        id: string;
        agent: { version: string; belowMinimum: boolean; os: { platform: string } };
      }[];
      expect(json.map((s) => [s.id, s.agent.version, s.agent.belowMinimum, s.agent.os.platform])).toEqual([
        ['S1', '0.1.0', true, 'win32'],
        ['S2', '0.3.0', false, 'linux'],
      ]);

      expect((await cli(['stores', 'min-version', '--clear'])).stdout).toContain(
        'no minimum agent version (was 0.2.0)',
      );
      expect((await cli(['stores', 'min-version', '--json'])).stdout).toContain('"minAgentVersion": null');
    },
  );
});

describe('the real agent link', () => {
  function capture(): { log: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({
      name: 'test',
      level: 'info',
      destination: new Writable({
        write(c: Buffer, _e, cb) {
          lines.push(JSON.parse(c.toString()) as Record<string, unknown>);
          cb();
        },
      }),
    });
    return { log, lines };
  }

  it('says its range, OS and start; the hub chooses the newest shared version and records them', async () => {
    const { running } = await oneHub();
    const { apiKey } = await storeToken(running, 'S1');
    const ac = new AbortController();
    const link = new HubLink(
      linkOptions(running.wsUrl, {
        apiKey: () => apiKey,
        os: { platform: platform(), release: release(), arch: arch() },
        startedAt: '2026-11-27T09:30:00.000Z',
        reconnectBaseMs: 50,
        reconnectCapMs: 1000,
      }),
    );
    const welcomed = link.events.next('welcome');
    link.start(ac.signal);
    cleanups.push(() => ac.abort());
    await welcomed;
    expect(link.info()).toMatchObject({ connected: true, protocol: WIRE_VERSION });
    expect(running.hub.presence.get('S1').agent).toEqual({
      protocol: WIRE_VERSION,
      software: 'tillbridge-agent/0.1.0',
      os: { platform: platform(), release: release(), arch: arch() },
      startedAt: Date.parse('2026-11-27T09:30:00.000Z'),
    });
  });

  it(
    "refused for its version: logs the hub's words as an error, shows them in status, and waits at least half the " +
      'backoff cap between tries',
    async () => {
      // a hub that needs a newer agent than any: its close as the hub sends it
      let hellos = 0;
      const port = await fakeHub((ws) => {
        hellos++;
        ws.close(
          CloseCodes.PROTOCOL_VERSION,
          'this hub needs tillbridge-agent >= 9.0.0 (protocol >= 99); install it (docs/upgrade.md)',
        );
      });
      const { log, lines } = capture();
      const sleeps: number[] = [];
      let release!: () => void;
      const slept = new Promise<void>((r) => (release = r));
      const ac = new AbortController();
      cleanups.push(() => ac.abort());
      const link = new HubLink(
        linkOptions(`ws://127.0.0.1:${port}`, {
          reconnectBaseMs: 10,
          reconnectCapMs: 60_000,
          log,
          random: () => 0,
          sleep: (ms, signal) => {
            sleeps.push(ms);
            release();
            return new Promise((r) => signal.addEventListener('abort', () => r(), { once: true }));
          },
        }),
      );
      link.start(ac.signal);
      await slept;
      expect(hellos).toBe(1);
      // full jitter with random 0 would retry at once: a refusal for the version waits half the cap
      expect(sleeps).toEqual([30_000]);
      const info = link.info();
      expect(info.refused).toMatchObject({
        code: TbCodes.PROTOCOL_VERSION,
        reason: 'this hub needs tillbridge-agent >= 9.0.0 (protocol >= 99); install it (docs/upgrade.md)',
      });
      expect(lines).toContainEqual(
        expect.objectContaining({
          level: 50,
          code: TbCodes.PROTOCOL_VERSION,
          msg: expect.stringContaining('this hub needs tillbridge-agent >= 9.0.0'),
        }),
      );
      const text = formatStatus({
        store: 'S1',
        agentId: 'ag-real',
        running: true,
        pid: 1,
        hub: info,
        outbox: { depth: 0, oldestAgeMs: 0 },
        registers: [],
        inventorySkus: 0,
        policyVersion: 0,
        configVersion: 0,
      });
      expect(text).toContain('!! REFUSED by the hub since');
      expect(text).toContain('this hub needs tillbridge-agent >= 9.0.0 (protocol >= 99); install it');
      expect(text).toContain('share no protocol version');
    },
  );

  it(
    "falls back to protocol 2's hello for a hub from before negotiation (which refuses the ranged hello as a " +
      'protocol error)',
    async () => {
      const hellos: Record<string, unknown>[] = [];
      // as the hub of protocol 2 answered: only v 2, and strict about the hello's fields
      const port = await fakeHub((ws, data) => {
        const h = JSON.parse(wsText(data)) as Record<string, unknown>;
        hellos.push(h);
        if (h.v !== 2 || 'min' in h || 'os' in h || 'startedAt' in h)
          ws.close(
            CloseCodes.PROTOCOL,
            `wire version ${String(h.v)} is not supported (hub speaks 2): upgrade the agent`,
          );
        else
          ws.send(
            JSON.stringify({
              t: 'welcome',
              v: 2,
              store: 'S1',
              lastSeq: 0,
              serverTime: '2026-11-27T10:00:00.000Z',
              cardKey: 'a2V5',
            }),
          );
      });
      const ac = new AbortController();
      cleanups.push(() => ac.abort());
      const link = new HubLink(
        linkOptions(`ws://127.0.0.1:${port}`, {
          os: { platform: 'linux', release: '6', arch: 'x64' },
          startedAt: '2026-11-27T09:30:00.000Z',
          reconnectBaseMs: 1,
          reconnectCapMs: 5,
        }),
      );
      const welcomed = link.events.next('welcome');
      link.start(ac.signal);
      await welcomed;
      expect(hellos.map((h) => [h.v, h.min])).toEqual([
        [WIRE_VERSION, WIRE_VERSION_MIN],
        [2, undefined],
      ]);
      expect(link.info()).toMatchObject({ connected: true, protocol: 2 });
    },
  );
});

const noPg = pgUnavailable();

describe.skipIf(noPg !== undefined)('many hub processes on PostgreSQL', () => {
  it(
    'what one process holds of an agent (version, OS, ' + "uptime, below the minimum), another process's status shows",
    async () => {
      const db = createPgDatabase('tb_proto_many');
      cleanups.push(() => db.drop());
      const a = await hubOn(db.url);
      const dirB = mkdtempSync(join(tmpdir(), 'tb-proto-b-'));
      mkdirSync(dirB, { recursive: true });
      copyFileSync(secretPath(a.dir), secretPath(dirB));
      copyFileSync(signingKeyPath(a.dir), signingKeyPath(dirB));
      const b = await hubOn(db.url, dirB);
      const { token } = await storeToken(a.running, 'S1');
      const linux = { platform: 'linux', release: '6.1.0', arch: 'x64' };
      await welcomed(
        a.running,
        token,
        rangedHello('ag-1', 'tillbridge-agent/0.1.0', linux, '2026-11-27T09:00:00.000Z'),
      );
      await new AdminClient(a.running.url, a.adminToken).put('/v1/admin/stores/min-version', { version: '0.2.0' });
      const viaB = new AdminClient(b.running.url, a.adminToken);
      await waitFor(
        'the agent seen by the other process',
        async () => (await viaB.get<StatusBody>('/v1/admin/status')).stores[0]?.agent ?? undefined,
      );
      const status = await viaB.get<StatusBody>('/v1/admin/status');
      expect(status.minAgentVersion).toBe('0.2.0');
      expect(status.stores[0]!.agent).toEqual({
        software: 'tillbridge-agent/0.1.0',
        version: '0.1.0',
        os: { platform: 'linux', release: '6.1.0', arch: 'x64' },
        startedAt: '2026-11-27T09:00:00.000Z',
        uptimeMs: 60 * 60_000,
        protocol: 3,
        belowMinimum: true,
      });
    },
  );
});
