import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { agentConfig, startAgent, type AgentHandle } from '@tillbridge/scripts/lib/cluster';
import { AGENT_BIN } from '@tillbridge/scripts/lib/paths';
import { runCommand } from '@tillbridge/scripts/lib/process';
import { startPtyPair } from '@tillbridge/scripts/lib/pty';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { sale } from './fixture.js';
import { freePort } from '../support/net.js';

/**
 * What store IT gets from `tillbridge-agent check-config`, `run` and `status`, through the real
 * binary. No hub is needed: the agent works offline. The tests that act as another user run the
 * CLI as `nobody` with setpriv, which needs root; they are skipped, saying so, otherwise.
 */
const isRoot = process.getuid?.() === 0;
const AS_NOBODY = ['--reuid=nobody', '--regid=nogroup', '--clear-groups'];
const NEEDS_ROOT = '(skipped: needs root, to run the CLI as the user nobody)';

let dir: string;
let n = 0;
const agents: AgentHandle[] = [];
const servers: Server[] = [];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tb-agent-cli-'));
  chmodSync(dir, 0o755); // the user nobody reads the config files in here
});
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.proc.stop()));
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cli = (...args: string[]) => runCommand(process.execPath, [AGENT_BIN, ...args], { TILLBRIDGE_CONFIG: '' });
const cliAsNobody = (...args: string[]) =>
  runCommand('setpriv', [...AS_NOBODY, process.execPath, AGENT_BIN, ...args], { TILLBRIDGE_CONFIG: '' });

/** A port something else listens on, for as long as the test runs (it hangs up on whoever connects). */
async function takenPort(): Promise<number> {
  const s = createServer((socket) => socket.destroy());
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as { port: number }).port;
}

/** A config file in a fresh directory (readable by everyone), from the cluster's agent config plus `overrides`. */
function config(
  overrides: Record<string, unknown> = {},
  registers?: { id: string; port?: number }[],
): { file: string; base: string; data: string } {
  const base = join(dir, `c${++n}`);
  mkdirSync(base, { mode: 0o755 });
  const cfg = agentConfig({
    dir: base,
    store: 'S1',
    apiKey: 'tbk_placeholder_key',
    hubWsUrl: 'ws://127.0.0.1:9',
    overrides,
    ...(registers ? { registers } : {}),
  });
  const file = join(base, 'agent.json');
  writeFileSync(file, JSON.stringify(cfg, null, 2), { mode: 0o644 });
  return { file, base, data: cfg.dataDir as string };
}

interface Report {
  valid: boolean;
  problems: string[];
  warnings: string[];
  checks: { key: string; level: string; message: string }[];
  runningPid?: number;
}
const json = (r: { stdout: string }) => JSON.parse(r.stdout) as Report;

describe('check-config checks what run will need', () => {
  it('a config run can start with: exit 0, every check ok, nothing left behind', async () => {
    const c = config();
    const r = await cli('check-config', '--config', c.file);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/: valid \(store S1, 1 register\(s\), hub ws:\/\/127\.0\.0\.1:9\)/);
    const j = json(await cli('check-config', '--config', c.file, '--json'));
    expect(j).toMatchObject({ valid: true, problems: [], warnings: [] });
    expect(j.checks.map((x) => [x.key, x.level])).toEqual([
      ['dataDir', 'ok'],
      ['registers[0].transport.port', 'ok'],
      ['status.listen', 'ok'],
    ]);
    expect(j.checks[0]!.message).toMatch(/does not exist yet; the agent creates it at start/);
    expect(existsSync(c.data)).toBe(false);
  });

  it(
    'a register port already taken: check-config exits 2 naming ' +
      'the key; run exits non-zero naming the register and port',
    async () => {
      const port = await takenPort();
      const c = config({}, [{ id: 'R7', port }]);
      const check = await cli('check-config', '--config', c.file);
      expect(check.code).toBe(2);
      const line = new RegExp(
        `registers\\[0\\]\\.transport\\.port: register R7: cannot ` +
          `listen on 127\\.0\\.0\\.1:${port}: the port is already in use`,
      );
      expect(check.stderr).toMatch(line);
      expect(check.stdout).toMatch(/PROBLEM/);
      const j = json(await cli('check-config', '--config', c.file, '--json'));
      expect(j.valid).toBe(false);
      expect(j.problems).toEqual([expect.stringMatching(line)]);

      const run = await cli('run', '--config', c.file);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(
        new RegExp(
          `^error: the agent could not start: register R7: cannot listen ` +
            `on 127\\.0\\.0\\.1:${port}: the port is already in use`,
          'm',
        ),
      );
    },
  );

  it('the status port already taken: the same, naming status.listen', async () => {
    const port = await takenPort();
    const c = config({ status: { listen: `127.0.0.1:${port}` } });
    const check = await cli('check-config', '--config', c.file);
    expect(check.code, check.stderr + check.stdout).toBe(2);
    expect(check.stderr).toMatch(
      new RegExp(
        `status\\.listen: the status endpoint: cannot listen on 127\\.0\\.0\\.1:${port}: the port is already in use`,
      ),
    );
    const run = await cli('run', '--config', c.file);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      new RegExp(
        `error: the agent could not start: status\\.listen: cannot ` +
          `listen on 127\\.0\\.0\\.1:${port}: the port is already in use`,
      ),
    );
  });

  it('a data directory that cannot be created: exit 2 naming dataDir', async () => {
    const c = config();
    writeFileSync(join(c.base, 'a-file'), '');
    const bad = config({ dataDir: join(c.base, 'a-file', 'data') });
    const r = await cli('check-config', '--config', bad.file);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/dataDir: .*a-file\/data cannot be created: .*not a directory/);
  });

  it(
    'a serial device not plugged in is a warning, not a ' + 'failure (also where serial ports cannot be listed)',
    async () => {
      const c = config({
        registers: [{ id: 'S1', transport: { type: 'serial', path: join(dir, 'no-such-tty') }, codec: 'jsonl' }],
      });
      const r = await cli('check-config', '--config', c.file, '--json');
      expect(r.code, r.stderr).toBe(0);
      const j = json(r);
      expect(j.valid).toBe(true);
      // the list of ports, or why it cannot be had (no udevadm): never a crash
      expect(j.warnings).toEqual([
        expect.stringMatching(
          new RegExp(
            String.raw`^registers\[0\]\.transport\.path: .*no-such-tty is not present now; the agent opens it when ` +
              String.raw`it appears \((serial ports seen now|no serial port is seen now|serial ports cannot be listed)`,
          ),
        ),
      ]);
    },
  );

  it('while its agent runs, the ports that agent holds are not a conflict', async () => {
    const [rport, sport] = [await freePort(), await freePort()];
    const base = join(dir, 'running');
    const a = await startAgent(
      {
        dir: base,
        store: 'S1',
        apiKey: 'tbk_placeholder_key',
        hubWsUrl: 'ws://127.0.0.1:9',
        registers: [{ id: 'R1', port: rport }],
        overrides: { status: { listen: `127.0.0.1:${sport}` } },
      },
      false,
    );
    agents.push(a);
    const r = await cli('check-config', '--config', a.configFile, '--json');
    expect(r.code, r.stdout).toBe(0);
    const j = json(r);
    expect(j.runningPid).toBe(a.proc.proc.pid);
    expect(j.checks.filter((x) => x.message.includes('held by the running agent')).map((x) => x.key)).toEqual([
      'registers[0].transport.port',
      'status.listen',
    ]);
  });

  it.skipIf(!isRoot)(
    `as a user who may not write the data directory or open the serial device: problems ${isRoot ? '' : NEEDS_ROOT}`,
    async () => {
      const ptyDir = mkdtempSync(join(dir, 'pty-'));
      chmodSync(ptyDir, 0o755); // nobody may see the device's link, not open the device
      const pty = await startPtyPair(ptyDir);
      try {
        const rootOnly = join(dir, 'root-only');
        mkdirSync(rootOnly, { mode: 0o755 }); // root's: nobody may not create in it
        const c = config({
          dataDir: join(rootOnly, 'data'),
          registers: [{ id: 'S1', transport: { type: 'serial', path: pty.a }, codec: 'jsonl' }],
        });
        expect((await cli('check-config', '--config', c.file)).code).toBe(0); // root may
        const r = await cliAsNobody('check-config', '--config', c.file);
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(
          new RegExp(
            String.raw`dataDir: .*root-only\/data cannot be created: no directory ` +
              String.raw`can be made in .*root-only \(EACCES\) \(checked as nobody`,
          ),
        );
        expect(r.stderr).toMatch(
          new RegExp(
            String.raw`registers\[0\]\.transport\.path: .*\/a cannot be opened ` +
              String.raw`for reading and writing \(EACCES; checked as nobody\)`,
          ),
        );
      } finally {
        await pty.close();
      }
    },
  );
});

describe('status', () => {
  it.skipIf(!isRoot)(
    `run by a user who may not read the data directory: asks the running agent; when ` +
      `it does not answer, says why and how to run it ${isRoot ? '' : NEEDS_ROOT}`,
    async () => {
      const sport = await freePort();
      const base = join(dir, 'status-0700');
      mkdirSync(base, { mode: 0o755 });
      const a = await startAgent(
        {
          dir: base,
          store: 'S1',
          apiKey: 'tbk_placeholder_key',
          hubWsUrl: 'ws://127.0.0.1:9',
          overrides: { status: { listen: `127.0.0.1:${sport}` } },
        },
        false,
      );
      agents.push(a);
      chmodSync(a.dataDir, 0o700); // as the shipped unit makes it
      // the config is written 0600 (it holds the API key); a site that lets store IT read it (0640 with
      // a group they are in) still keeps them out of the data directory: that is the case here
      chmodSync(a.configFile, 0o644);
      // a backlog: a sale the agent cannot upload (no hub)
      const reg = await JsonLinesRegister.connect(a.port());
      expect(await reg.send(sale('st-1', 'ST-0700', [{ sku: 'A', qty: 1, unitPrice: 100 }]))).toMatchObject({
        type: 'ack',
      });
      reg.close();

      const live = await cliAsNobody('status', '--config', a.configFile, '--json');
      expect(live.code, live.stderr).toBe(0);
      expect(JSON.parse(live.stdout)).toMatchObject({ store: 'S1', running: true, outbox: { depth: 1 } });

      await a.proc.stop();
      const down = await cliAsNobody('status', '--config', a.configFile);
      expect(down.code).toBe(1);
      expect(down.stdout).toBe('');
      expect(down.stderr).toMatch(
        new RegExp(
          String.raw`^error: the agent did not answer on its status endpoint \(status\.listen 127\.0\.0\.1:\d+\), ` +
            String.raw`and this user \(nobody\) may not read its data directory .*\/data \(EACCES\)`,
        ),
      );
      expect(down.stderr).toContain(`sudo -u root tillbridge-agent status --config ${a.configFile}, or as root`);
      // root may read it: not running, with its backlog
      const asRoot = await cli('status', '--config', a.configFile, '--json');
      expect(asRoot.code).toBe(3);
      expect(JSON.parse(asRoot.stdout)).toMatchObject({ running: false, outbox: { depth: 1 } });
    },
  );
});
