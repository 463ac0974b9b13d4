import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { once } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { agentConfig, type AgentSpec, databaseArgs } from '@tillbridge/scripts/lib/cluster';
import { AGENT_BIN, HUB_BIN } from '@tillbridge/scripts/lib/paths';
import { JsonLogProcess } from '@tillbridge/scripts/lib/process';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { StubHub } from '../../agent/test/stub-hub.js';
import { sale, World } from './fixture.js';
import { freePort } from '../support/net.js';

/**
 * SIGTERM stops the agent and the hub by themselves, with exit code 0, in every state they can
 * be in (docs/operations.md: stopping). No test here measures time: a process that does not stop
 * fails on the hang guard.
 */

/** A generous hang guard: the process must exit by itself well within the test's timeout. */
async function exitedByItself(p: JsonLogProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let t: NodeJS.Timeout | undefined;
  const hung = new Promise<never>(
    (_, reject) => (t = setTimeout(() => reject(new Error(`${p.name} did not exit after SIGTERM`)), 40_000)),
  );
  try {
    return await Promise.race([p.exited, hung]);
  } finally {
    clearTimeout(t);
  }
}

/** Sends `p` SIGTERM: it must exit by itself, with code 0. */
async function stopsCleanly(p: JsonLogProcess): Promise<void> {
  p.proc.kill('SIGTERM');
  expect(await exitedByItself(p)).toEqual({ code: 0, signal: null });
}

let w: World;
const stubs: StubHub[] = [];
const procs: JsonLogProcess[] = [];
let n = 0;

beforeAll(() => {
  w = new World();
});
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill()));
  await Promise.all(stubs.splice(0).map((s) => s.close()));
});
afterAll(async () => w.close());

async function stub(): Promise<StubHub> {
  const s = await new StubHub().start();
  stubs.push(s);
  return s;
}

/** An agent process for `hubWsUrl`, its config written the way `tillbridge-agent run` reads it; nothing awaited. */
function spawnAgent(
  hubWsUrl: string,
  overrides: AgentSpec['overrides'] = {},
  name = `a${++n}`,
  store = 'S1',
  apiKey = 'tbk_stub_key_1234',
): { proc: JsonLogProcess; dataDir: string; configFile: string } {
  const dir = join(w.dir, name);
  mkdirSync(dir, { recursive: true });
  const config = agentConfig({ dir, store, apiKey, hubWsUrl, overrides });
  const configFile = join(dir, 'agent.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const proc = JsonLogProcess.spawn(`agent ${name}`, process.execPath, [AGENT_BIN, 'run', '--config', configFile]);
  procs.push(proc);
  return { proc, dataDir: config.dataDir as string, configFile };
}

const registerPort = (p: JsonLogProcess): number => {
  const l = p.lines.find((x) => x.msg === 'register endpoint ready')!;
  return Number(new URL(l.at as string).port);
};
const outboxRows = (dataDir: string): number =>
  w.query<{ n: number }>(join(dataDir, 'agent.sqlite'), `SELECT COUNT(*) AS n FROM outbox`)[0]!.n;

describe('SIGTERM stops the agent, exit code 0, in every state', () => {
  it('while starting', async () => {
    const hub = await stub();
    const a = spawnAgent(hub.wsUrl);
    await a.proc.waitForLine((l) => l.msg === 'starting');
    await stopsCleanly(a.proc);
  });

  it('while fetching its first access token, even when the token arrives after the signal', async () => {
    const hub = await stub();
    hub.tokenMode = 'hold';
    const a = spawnAgent(hub.wsUrl);
    await once(hub, 'token');
    a.proc.proc.kill('SIGTERM');
    await a.proc.waitForLine((l) => l.msg === 'stopping');
    hub.releaseTokens(); // too late: the agent must not connect and stay
    expect(await exitedByItself(a.proc)).toEqual({ code: 0, signal: null });
  });

  it('while connecting: the hub accepts TCP but never answers the WebSocket upgrade', async () => {
    const hub = await stub();
    hub.upgradeMode = 'hang';
    const a = spawnAgent(hub.wsUrl);
    await once(hub, 'upgrade');
    await stopsCleanly(a.proc);
  });

  it('while connecting to an address that accepts TCP and never answers anything', async () => {
    const server = createNetServer((s) => s.on('error', () => undefined));
    const sockets: Socket[] = [];
    server.on('connection', (s) => sockets.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const a = spawnAgent(`ws://127.0.0.1:${(server.address() as { port: number }).port}`);
      await waitFor('the agent connected', () => sockets.length > 0, 20_000);
      await stopsCleanly(a.proc);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('while refreshing its access token and the token endpoint hangs', async () => {
    const hub = await stub();
    hub.tokenLifetimeSec = 1;
    hub.holdToken = (k) => k >= 2; // the first token comes, the refresh hangs
    const a = spawnAgent(hub.wsUrl);
    await new Promise<void>((resolve) => hub.on('token', (k) => k === 2 && resolve()));
    expect(hub.sockets.size).toBe(1);
    await stopsCleanly(a.proc);
  });

  it('while draining a backlog to a hub that never acks: it stops, and the rows stay for the next start', async () => {
    const hub = await stub();
    const a = spawnAgent(hub.wsUrl, {}, 'drain');
    await a.proc.waitForLine((l) => l.msg === 'connected to the hub');
    const reg = await JsonLinesRegister.connect(registerPort(a.proc));
    for (let i = 0; i < 3; i++)
      expect(await reg.send(sale(`d-${i}`, `DRAIN-${i}`, [{ sku: 'K', qty: 1, unitPrice: 100 }]))).toEqual({
        type: 'ack',
        id: `d-${i}`,
      });
    await waitFor('the events sent', () => hub.frames.some((f) => f.t === 'events'));
    await stopsCleanly(a.proc);
    expect(
      a.proc.lines.some(
        (l) => l.msg === 'stopping with events the hub has not acknowledged; they are sent after the next start',
      ),
    ).toBe(true);
    expect(outboxRows(a.dataDir)).toBe(3);

    // the next start delivers them to a real hub
    await w.startHub();
    const key = await w.addStore('S1');
    const config = agentConfig({ dir: join(w.dir, 'drain'), store: 'S1', apiKey: key, hubWsUrl: w.hub.wsUrl });
    writeFileSync(a.configFile, JSON.stringify(config, null, 2));
    const again = JsonLogProcess.spawn('agent drain again', process.execPath, [
      AGENT_BIN,
      'run',
      '--config',
      a.configFile,
    ]);
    procs.push(again);
    await waitFor(
      'the three sales at the hub',
      () => w.hubQuery<{ n: number }>(`SELECT COUNT(*) AS n FROM sales WHERE receipt LIKE 'DRAIN-%'`)[0]!.n === 3,
      20_000,
    );
    await waitFor('the rows acked', () => outboxRows(a.dataDir) === 0);
    await stopsCleanly(again);
    await stopsCleanly(w.hub.proc); // and the real hub, idle
  });

  it('while offline: the hub is down and the agent waits to reconnect, its sales kept', async () => {
    const nowhere = `ws://127.0.0.1:${await freePort()}`;
    const a = spawnAgent(nowhere, { hub: { reconnectBaseMs: 60_000, reconnectCapMs: 600_000 } });
    await a.proc.waitForLine((l) => l.msg === 'hub connection failed');
    const reg = await JsonLinesRegister.connect(registerPort(a.proc));
    expect(await reg.send(sale('o-1', 'OFF-1', [{ sku: 'K', qty: 1, unitPrice: 100 }]))).toEqual({
      type: 'ack',
      id: 'o-1',
    });
    await stopsCleanly(a.proc);
    expect(outboxRows(a.dataDir)).toBe(1);
  });
});

describe('SIGTERM stops the hub, exit code 0, in every state', () => {
  const spawnHub = (): JsonLogProcess => {
    const proc = JsonLogProcess.spawn('hub', process.execPath, [
      HUB_BIN,
      'serve',
      '--data',
      w.hubData,
      ...databaseArgs(w.hubData),
      '--listen',
      '127.0.0.1:0',
    ]);
    procs.push(proc);
    return proc;
  };

  beforeAll(async () => {
    if (!w.hubInitialised) {
      await w.startHub();
      await w.hub.proc.stop();
    }
  });

  it('while starting', async () => {
    const hub = spawnHub();
    await hub.waitForLine((l) => l.msg === 'starting');
    await stopsCleanly(hub);
  });

  it('with agents connected', async () => {
    const hub = spawnHub();
    const listening = await hub.waitForLine((l) => l.msg === 'hub listening');
    const admin = { authorization: `Bearer ${w.adminToken}`, 'content-type': 'application/json' };
    const res = await fetch(`${listening.url as string}/v1/admin/stores`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ id: 'S9', name: 'S9' }),
    });
    const { apiKey } = (await res.json()) as { apiKey: string };
    const a = spawnAgent(listening.ws as string, {}, 'connected', 'S9', apiKey);
    await a.proc.waitForLine((l) => l.msg === 'connected to the hub');
    await stopsCleanly(hub);
    await a.proc.waitForLine((l) => l.msg === 'disconnected from the hub');
    expect(a.proc.running).toBe(true); // the agent carries on offline
    await stopsCleanly(a.proc);
  });

  it('with an admin request in flight', async () => {
    const hub = spawnHub();
    const listening = await hub.waitForLine((l) => l.msg === 'hub listening');
    const port = Number(new URL(listening.url as string).port);
    // an inventory import whose body is still on its way
    const s = connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    await once(s, 'connect');
    s.write(
      `POST /v1/admin/inventory/import HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ` +
        `${w.adminToken}\r\nContent-Type: text/csv\r\nContent-Length: 100000\r\n\r\nstore,sku,qty\n`,
    );
    const closed = once(s, 'close');
    expect((await fetch(`${listening.url as string}/healthz`)).status).toBe(200); // the hub has read the request by now
    await stopsCleanly(hub);
    await closed;
  });
});
