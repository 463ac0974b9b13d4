/**
 * `tillbridge-hub serve` and `tillbridge-agent run` under a Type=notify unit: real processes, real
 * `systemd-notify`, and a real unix datagram socket standing in for the service manager
 * (test/support/notify-receiver.py). Each says READY=1 once it serves, then feeds the watchdog
 * (WATCHDOG=1) at half of WATCHDOG_USEC, and says STOPPING=1 on SIGTERM.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { agentConfig, databaseArgs, initHub } from '@tillbridge/scripts/lib/cluster';
import { AGENT_BIN, HUB_BIN } from '@tillbridge/scripts/lib/paths';
import { JsonLogProcess } from '@tillbridge/scripts/lib/process';
import { waitFor } from '@tillbridge/scripts/lib/wait';

const RECEIVER = join(dirname(fileURLToPath(import.meta.url)), 'support', 'notify-receiver.py');
const haveTools =
  spawnSync('systemd-notify', ['--help']).status === 0 && spawnSync('python3', ['--version']).status === 0;
if (!haveTools)
  process.stderr.write('test/sd-notify.test.ts: SKIPPED — needs systemd-notify (Debian: systemd) and python3\n');

/** The notification socket: every datagram the process sent, in order. */
class NotifySocket {
  readonly messages: string[] = [];
  private constructor(
    readonly path: string,
    private readonly proc: ChildProcess,
  ) {}

  static async open(dir: string): Promise<NotifySocket> {
    const path = join(dir, 'notify.sock');
    const proc = spawn('python3', [RECEIVER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    const s = new NotifySocket(path, proc);
    createInterface({ input: proc.stdout }).on('line', (l) => s.messages.push(JSON.parse(l) as string));
    await waitFor('the notification socket', () => s.messages[0] === 'LISTENING', 20_000);
    s.messages.shift();
    return s;
  }

  /** Index of the first message holding `assignment` (a line of it) after `from`, or -1. */
  find(assignment: string, from = 0): number {
    return this.messages.findIndex((m, i) => i >= from && m.split('\n').includes(assignment));
  }

  async waitFor(assignment: string, from = 0): Promise<number> {
    return waitFor(
      `${assignment} on the notification socket (got ${JSON.stringify(this.messages)})`,
      () => {
        const i = this.find(assignment, from);
        return i >= 0 ? i + 1 : undefined;
      },
      30_000,
    ).then((n) => n - 1);
  }

  close(): void {
    this.proc.kill('SIGTERM');
  }
}

let dir: string;
const procs: JsonLogProcess[] = [];
const sockets: NotifySocket[] = [];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tb-sdnotify-'));
});
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill()));
  for (const s of sockets.splice(0)) s.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// 200 ms: fed every 100 ms, so a few feeds arrive well within any timeout
const WATCHDOG_USEC = '200000';

async function notifySocket(name: string): Promise<NotifySocket> {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  const s = await NotifySocket.open(d);
  sockets.push(s);
  return s;
}

describe.skipIf(!haveTools)('systemd notifications from the real processes', () => {
  it(
    'tillbridge-hub serve: READY=1 with its address (listen from ' +
      'TILLBRIDGE_HUB_LISTEN), WATCHDOG=1, STOPPING=1 on SIGTERM',
    async () => {
      const data = join(dir, 'hub');
      await initHub(data);
      const sock = await notifySocket('hub-sock');
      const env = { NOTIFY_SOCKET: sock.path, WATCHDOG_USEC, TILLBRIDGE_HUB_LISTEN: '127.0.0.1:0' };
      const args = [HUB_BIN, 'serve', '--data', data, ...databaseArgs(data)];
      const hub = JsonLogProcess.spawn('hub', process.execPath, args, env);
      procs.push(hub);
      const ready = await sock.waitFor('READY=1');
      const listening = await hub.waitForLine((l) => l.msg === 'hub listening');
      expect(sock.messages[ready]).toContain(`STATUS=listening on ${listening.url as string}`);
      await sock.waitFor('WATCHDOG=1', ready + 1);
      hub.proc.kill('SIGTERM');
      await sock.waitFor('STOPPING=1', ready + 1);
      expect(await hub.exited).toEqual({ code: 0, signal: null });
    },
  );

  it('tillbridge-agent run: READY=1 once its registers are open, then WATCHDOG=1', async () => {
    const adir = join(dir, 'agent');
    mkdirSync(adir, { recursive: true });
    // no hub listens there: the agent serves its registers anyway and keeps trying the hub
    const config = agentConfig({
      dir: adir,
      store: 'S1',
      apiKey: 'tbk_stub_key_1234',
      hubWsUrl: 'ws://127.0.0.1:9/agent',
    });
    const configFile = join(adir, 'agent.json');
    writeFileSync(configFile, JSON.stringify(config), { mode: 0o600 });
    const sock = await notifySocket('agent-sock');
    const agent = JsonLogProcess.spawn('agent', process.execPath, [AGENT_BIN, 'run', '--config', configFile], {
      NOTIFY_SOCKET: sock.path,
      WATCHDOG_USEC,
    });
    procs.push(agent);
    const ready = await sock.waitFor('READY=1');
    // READY=1 came after the register's port was open
    expect(agent.lines.some((l) => l.msg === 'register endpoint ready')).toBe(true);
    expect(sock.messages[ready]).toContain('STATUS=store S1: 1 register(s) open');
    await sock.waitFor('WATCHDOG=1', ready + 1);
    agent.proc.kill('SIGTERM');
    await sock.waitFor('STOPPING=1', ready + 1);
    expect(await agent.exited).toEqual({ code: 0, signal: null });
  });
});

describe("serve reads its settings from TILLBRIDGE_HUB_* (the unit's /etc/tillbridge/hub.env)", () => {
  /** `serve` on a new data directory with `env` set: it must refuse to start (exit 2); what it said. */
  async function refusedServe(name: string, env: Record<string, string>): Promise<string> {
    const data = join(dir, name);
    await initHub(data);
    const args = [HUB_BIN, 'serve', '--data', data, ...databaseArgs(data)];
    const hub = JsonLogProcess.spawn('hub', process.execPath, args, env);
    procs.push(hub);
    expect((await hub.exited).code).toBe(2);
    return hub.stderr.join('\n');
  }

  it('a plain-HTTP public address from TILLBRIDGE_HUB_LISTEN is refused like --listen', async () => {
    const said = await refusedServe('hub3', { TILLBRIDGE_HUB_LISTEN: '0.0.0.0:0' });
    expect(said).toMatch(/refusing plain HTTP on 0\.0\.0\.0:0/);
  });

  it('TILLBRIDGE_HUB_REQUIRE_CLIENT_CERT must be a yes or a no', async () => {
    const said = await refusedServe('hub4', { TILLBRIDGE_HUB_REQUIRE_CLIENT_CERT: 'perhaps' });
    expect(said).toMatch(/TILLBRIDGE_HUB_REQUIRE_CLIENT_CERT: expected 1, true, yes or on .*got "perhaps"/);
  });
});
