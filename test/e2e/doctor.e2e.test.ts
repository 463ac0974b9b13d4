import { chmodSync, mkdirSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { DevCa } from '@tillbridge/central';
import { TEST_CLOCK_ENV, type DoctorReport } from '@tillbridge/shared';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import type { AgentHandle } from '@tillbridge/scripts/lib/cluster';
import { agentBin, worldForFile } from './fixture.js';

/**
 * `tillbridge-agent doctor` and `tillbridge-hub doctor` against real processes: a running hub and
 * agent (all ok), the agent's trace log of register frames (card data masked), the support bundle
 * (no secret in it), a test clock far from the hub's, an open data directory, certificates near or
 * past their expiry, and last a stopped hub.
 */
const PAN = '4111111111111111';
const TRACK2 = `;${PAN}=25121010000012345678?`;

const w = worldForFile({ stores: ['S1'] });
let a: AgentHandle;
let logFile: string;
const DAY = 86_400_000;

beforeAll(async () => {
  logFile = join(w.dir, 'agent-logs', 'agent.log');
  mkdirSync(join(w.dir, 'agent-logs'), { mode: 0o700 });
  a = await w.startAgent('S1', 'S1', { log: { level: 'trace', file: logFile, maxSizeMb: 1, keep: 2 } });
});

const agentDoctor = (args: string[], env: NodeJS.ProcessEnv = {}): ReturnType<typeof agentBin> =>
  agentBin(['doctor', ...args], env);
const parse = (stdout: string): DoctorReport => JSON.parse(stdout) as DoctorReport;
const finding = (r: DoctorReport, id: string): DoctorReport['findings'][number] | undefined =>
  r.findings.find((f) => f.id === id);
const hubDoctor = (args: string[]): ReturnType<typeof agentBin> =>
  w.hub.cli(['doctor', '--data', w.hubData, '--listen', `127.0.0.1:${w.hub.port}`, ...args]);

describe('doctor against a running hub and agent', () => {
  it('the agent doctor finds nothing wrong (exit 0)', async () => {
    const r = await agentDoctor(['--config', a.configFile, '--json']);
    const rep = parse(r.stdout);
    expect(rep.findings.filter((f) => f.level === 'error')).toEqual([]);
    expect(r.code).toBe(0);
    for (const id of [
      'config.valid',
      'hub.reachable',
      'hub.answers',
      'clock.skew',
      'agent.running',
      'outbox',
      'disk.dataDir',
      'dataDir.owner',
    ])
      expect(finding(rep, id), id).toMatchObject({ level: 'ok' });
    expect(finding(rep, 'outbox')!.message).toMatch(/empty/);
    expect(finding(rep, 'log.file')).toMatchObject({ level: 'ok' });
    expect(finding(rep, 'log.level')).toMatchObject({
      level: 'warning',
      action: expect.stringMatching(/back to "info"/),
    });
  });

  it('the hub doctor finds nothing wrong, and its listen address held by the running hub (exit 0)', async () => {
    const r = await hubDoctor(['--json']);
    const rep = parse(r.stdout);
    expect(rep.findings.filter((f) => f.level === 'error')).toEqual([]);
    expect(r.code).toBe(0);
    expect(finding(rep, 'listen')).toMatchObject({
      level: 'ok',
      message: expect.stringMatching(/held by the running hub/),
    });
    expect(finding(rep, 'hub.secret.matches')).toMatchObject({ level: 'ok' });
    expect(finding(rep, 'audit.chain')).toMatchObject({
      level: 'ok',
      message: expect.stringMatching(/link and hash correctly/),
    });
    expect(finding(rep, 'database.schema')).toMatchObject({ level: 'ok' });
    expect(
      finding(rep, process.env.TILLBRIDGE_TEST_BACKEND === 'postgres' ? 'database.reachable' : 'database.integrity'),
    ).toMatchObject({ level: 'ok' });
  });

  it(
    'log.level "trace" logs each register frame to ' + 'log.file with the PAN masked and no track data or CVV',
    async () => {
      const reg = await JsonLinesRegister.connect(a.port());
      const line = JSON.stringify({
        type: 'sale',
        id: 'tr-1',
        receipt: 'TR-1',
        at: '2026-01-01T10:00:00Z',
        lines: [{ sku: 'A', qty: 1, unitPrice: 100 }],
        tenders: [{ type: 'card', amount: 100, pan: PAN, track2: TRACK2, cvv: '737' }],
      });
      await reg.sendRaw(`${line}\n`);
      reg.close();
      const text = readFileSync(logFile, 'utf8');
      const frames = text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { msg: string; frame?: string; direction?: string });
      const received = frames.filter((l) => l.msg === 'frame received');
      const sent = frames.filter((l) => l.msg === 'frame sent');
      expect(received.length).toBeGreaterThan(0);
      expect(sent.length).toBeGreaterThan(0);
      expect(received.at(-1)!.frame).toContain('411111******1111');
      expect(received.at(-1)!.frame).toContain('"cvv":"[removed]"');
      expect(text).not.toContain(PAN);
      expect(text).not.toContain('=2512');
      // the CVV as a value anywhere, or inside any logged frame (a bare '737' can be part of a random port or id)
      expect(text).not.toContain('"737"');
      expect(text).not.toContain('\\"737\\"');
      for (const f of frames) expect(f.frame ?? '').not.toContain('737');
      // the same lines reach stdout as well
      expect(a.proc.lines.some((l) => l.msg === 'frame received')).toBe(true);
    },
  );

  it(
    '--bundle writes a .tar.gz with config, findings, status, ' +
      'versions, devices and the log, and no secret anywhere in it',
    async () => {
      const apiKey = w.keys.get('S1')!;
      // as if a secret had leaked into a log line: the bundle must still not carry it
      appendFileSync(logFile, `${JSON.stringify({ msg: `leaked ${apiKey}` })}\n`);
      const bundle = join(w.dir, 'bundle.tar.gz');
      const r = await agentDoctor(['--config', a.configFile, '--bundle', bundle]);
      expect(r.code).toBe(0);
      const gz = readFileSync(bundle);
      const tar = gunzipSync(gz);
      expect(gz.includes(apiKey)).toBe(false);
      expect(tar.includes(apiKey)).toBe(false);
      expect(tar.toString('latin1')).not.toContain(PAN);
      const text = tar.toString('utf8');
      for (const name of [
        'config.json',
        'doctor.json',
        'doctor.txt',
        'status.json',
        'versions.json',
        'devices.json',
        'logs/agent.log',
      ])
        expect(text).toContain(`tillbridge-bundle/${name}`);
      expect(text).toContain('"apiKey": "[redacted]"');
      expect(text).toContain('leaked [redacted]');
      expect(text).toContain(process.version);
      // the hub's bundle does not carry its hub.secret
      const hubBundle = join(w.dir, 'hub-bundle.tar.gz');
      expect((await hubDoctor(['--bundle', hubBundle])).code).toBe(0);
      const secret = readFileSync(join(w.hubData, 'hub.secret'), 'utf8').trim();
      expect(gunzipSync(readFileSync(hubBundle)).includes(secret)).toBe(false);
    },
  );

  it("an agent doctor whose clock is far from the hub's says so (exit 1)", async () => {
    const r = await agentDoctor(['--config', a.configFile, '--json'], { [TEST_CLOCK_ENV]: '2031-06-01T12:00:00Z' });
    const skew = finding(parse(r.stdout), 'clock.skew');
    expect(skew).toMatchObject({
      level: 'error',
      message: expect.stringMatching(/ahead of the hub's/),
      action: expect.stringMatching(/NTP/),
    });
    expect(r.code).toBe(1);
  });

  it('a data directory open to others (0755) is flagged', async () => {
    chmodSync(w.hubData, 0o755);
    try {
      const rep = parse((await hubDoctor(['--json'])).stdout);
      expect(finding(rep, 'dataDir.mode')).toMatchObject({
        level: 'warning',
        message: expect.stringMatching(/mode 0755/),
        action: expect.stringMatching(/chmod/),
      });
    } finally {
      chmodSync(w.hubData, 0o700);
    }
    chmodSync(a.dataDir, 0o755);
    try {
      const rep = parse((await agentDoctor(['--config', a.configFile, '--json'])).stdout);
      expect(rep.findings.filter((f) => f.id === 'config.dataDir' && f.level === 'warning')).toEqual([
        expect.objectContaining({
          message: expect.stringMatching(/mode 0755/),
          action: expect.stringMatching(/chmod/),
        }),
      ]);
    } finally {
      chmodSync(a.dataDir, 0o700);
    }
  });
});

describe('certificates', () => {
  const ca = DevCa.create('doctor test CA');
  const now = Date.now();
  const write = (
    name: string,
    notAfter: Date,
    notBefore = new Date(now - 400 * DAY),
  ): { cert: string; key: string } => {
    const c = ca.issue({ cn: '127.0.0.1', hosts: ['127.0.0.1'], usage: 'server', notBefore, notAfter });
    const cert = join(w.dir, `${name}.pem`);
    const key = join(w.dir, `${name}-key.pem`);
    writeFileSync(cert, c.cert);
    writeFileSync(key, c.key, { mode: 0o600 });
    return { cert, key };
  };

  it("the hub doctor flags the serve certificate's near expiry (warning) and its expiry (error)", async () => {
    const soon = write('soon', new Date(now + 10 * DAY));
    let r = await hubDoctor(['--tls-cert', soon.cert, '--tls-key', soon.key, '--json']);
    expect(finding(parse(r.stdout), 'tls.expiry')).toMatchObject({
      level: 'warning',
      message: expect.stringMatching(/expires in (9|10) day/),
    });
    expect(finding(parse(r.stdout), 'tls.key')).toMatchObject({ level: 'ok' });
    expect(r.code).toBe(0);
    const gone = write('gone', new Date(now - 2 * DAY));
    r = await hubDoctor(['--tls-cert', gone.cert, '--tls-key', soon.key, '--json']);
    expect(finding(parse(r.stdout), 'tls.expiry')).toMatchObject({
      level: 'error',
      message: expect.stringMatching(/expired/),
      action: expect.stringMatching(/renew/),
    });
    expect(finding(parse(r.stdout), 'tls.key')).toMatchObject({ level: 'error' });
    expect(r.code).toBe(1);
  });

  it('the agent doctor flags a hub whose certificate has expired, and one that expires soon', async () => {
    const caFile = join(w.dir, 'doctor-ca.pem');
    writeFileSync(caFile, ca.pem.cert);
    for (const [name, notAfter, level] of [
      ['expired', new Date(now - DAY), 'error'],
      ['near', new Date(now + 5 * DAY), 'warning'],
    ] as const) {
      const files = write(`hub-${name}`, notAfter);
      const server: Server = createHttpsServer(
        { cert: readFileSync(files.cert), key: readFileSync(files.key) },
        (_req, res) => {
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ ok: true, software: 'tillbridge-hub/0.1.0' }));
        },
      );
      await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
      const port = (server.address() as { port: number }).port;
      const dir = join(w.dir, `agent-tls-${name}`);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const config = join(dir, 'agent.json');
      writeFileSync(
        config,
        JSON.stringify({
          store: 'S1',
          dataDir: join(dir, 'data'),
          hub: { url: `wss://127.0.0.1:${port}`, apiKey: 'tbk_doctor_test_key', caFile },
          registers: [{ id: 'R1', transport: { type: 'tcp-server', port: 0 } }],
          status: { listen: '127.0.0.1:0' },
        }),
        { mode: 0o600 },
      );
      try {
        const r = await agentDoctor(['--config', config, '--json']);
        const rep = parse(r.stdout);
        expect(finding(rep, 'hub.certificate'), name).toMatchObject({ level });
        if (name === 'expired') {
          expect(finding(rep, 'hub.tls')).toMatchObject({
            level: 'error',
            message: expect.stringMatching(/CERT_HAS_EXPIRED/),
            action: expect.stringMatching(/renew/),
          });
          expect(r.code).toBe(1);
        } else {
          expect(finding(rep, 'hub.tls')).toMatchObject({ level: 'ok' });
          expect(finding(rep, 'hub.certificate')!.message).toMatch(/expires in [45] day/);
        }
      } finally {
        await new Promise<void>((done) => server.close(() => done()));
      }
    }
  });
});

describe('a stopped hub', () => {
  it('the agent doctor says the hub cannot be reached and what to do (exit 1)', async () => {
    await w.stopHubs();
    const r = await agentDoctor(['--config', a.configFile]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      new RegExp(
        String.raw`ERROR {4}hub\.reachable: the hub at ws:\/\/127\.0\.0\.1:\d+ cannot be ` +
          String.raw`reached: a TCP connection to 127\.0\.0\.1:\d+ failed \(ECONNREFUSED\)`,
      ),
    );
    expect(r.stdout).toMatch(/what to do: check that the hub is running/);
    expect(r.stdout).toMatch(/tillbridge-agent doctor: [1-9]\d* error\(s\)/);
  });
});

describe('serve --log-file', () => {
  it('a bad --log-keep names the option (exit 2); a hub started with --log-file logs there and to stdout', async () => {
    const file = join(w.dir, 'hub-logs', 'hub.log');
    mkdirSync(join(w.dir, 'hub-logs'), { mode: 0o700 });
    const bad = await w.hub.cli([
      'serve',
      '--data',
      w.hubData,
      '--listen',
      '127.0.0.1:0',
      '--log-file',
      file,
      '--log-keep',
      '0',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--log-keep: expected a whole number of files from 1 to 100, got "0"/);
    const h = await w.startHub(undefined, ['--log-file', file, '--log-max-size', '1', '--log-keep', '2']);
    expect(h.proc.lines.some((l) => l.msg === 'hub listening')).toBe(true);
    // The logger writes each line to stdout first and to the file next, so startHub (which returns on
    // the stdout line) can be a moment ahead of the file: wait for the same line to reach the file.
    const fileLines = (): { msg: string }[] =>
      readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { msg: string });
    await waitFor('"hub listening" in the --log-file', () => fileLines().some((l) => l.msg === 'hub listening'));
  });
});

describe('doctor usage', () => {
  it(
    'no config file, an unreadable test clock, a hub ' + 'doctor without --data: exit 2 saying what is missing',
    async () => {
      let r = await agentDoctor([], { TILLBRIDGE_CONFIG: '' });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/no config file: pass --config FILE or set TILLBRIDGE_CONFIG/);
      r = await agentDoctor(['--config', a.configFile], { [TEST_CLOCK_ENV]: 'tomorrow' });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/TILLBRIDGE_TEST_CLOCK: expected an ISO 8601 date and time/);
      r = await w.hub.cli(['doctor']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/required option '--data <dir>' not specified/);
    },
  );
});
