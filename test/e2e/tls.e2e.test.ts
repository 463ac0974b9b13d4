import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevCa } from '@tillbridge/central';
import { agentConfig, databaseArgs } from '@tillbridge/scripts/lib/cluster';
import { AGENT_BIN, HUB_BIN } from '@tillbridge/scripts/lib/paths';
import { runCommand } from '@tillbridge/scripts/lib/process';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { sale, World } from './fixture.js';

/** The message of an error as the agent logs it (`{ err }`: pino's serialized error). */
function logged(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'message' in err) return String(err.message);
  return String(err);
}

let w: World;
let certs: string;
const pem = (name: string): string => join(certs, name);

beforeAll(async () => {
  w = new World();
  certs = join(w.dir, 'certs');
  const r = await runCommand(process.execPath, [
    HUB_BIN,
    'certs',
    'dev',
    '--out',
    certs,
    '--stores',
    'S1,S2',
    '--json',
  ]);
  expect(r.code, r.stderr).toBe(0);
  await w.startHub(
    undefined,
    ['--tls-cert', pem('hub.pem'), '--tls-key', pem('hub-key.pem'), '--client-ca', pem('ca.pem')],
    { ca: pem('ca.pem') },
  );
  await w.addStore('S1');
  await w.addStore('S2');
});
afterAll(async () => w.close());

const hubStatus = async (url: string): Promise<{ hub: { connected: boolean; lastError?: string } }> =>
  (await fetch(`${url}/status`)).json() as Promise<{ hub: { connected: boolean; lastError?: string } }>;

describe('TLS between agents and the hub', () => {
  it("serves HTTPS and WSS: an agent that trusts the hub's CA connects and syncs", async () => {
    expect(w.hub.url).toMatch(/^https:/);
    expect(w.hub.wsUrl).toMatch(/^wss:/);
    const a = await w.startAgent('S1', 'tls-ok', { hub: { caFile: pem('ca.pem') } });
    const reg = await JsonLinesRegister.connect(a.port());
    await reg.send(sale('t-1', 'TLS-1', [{ sku: 'A', qty: 1, unitPrice: 100 }]));
    await waitFor('the sale at the hub', () => w.hubQuery(`SELECT 1 FROM sales WHERE receipt = 'TLS-1'`).length === 1);
    reg.close();
    await a.proc.stop();
  });

  it.each([
    ['a CA it does not trust', () => pem('other-ca.pem'), /self.signed|unable to get local issuer|certificate/i],
  ])('refuses a hub certificate signed by %s', async (_what, caFile, pattern) => {
    writeFileSync(pem('other-ca.pem'), DevCa.create('Somebody else').pem.cert);
    const a = await w.startAgent('S1', 'tls-wrong-ca', { hub: { caFile: caFile() } }, false);
    const line = await a.proc.waitForLine((l) => l.msg === 'hub connection failed');
    expect(logged(line.err)).toMatch(pattern);
    expect((await hubStatus(a.statusUrl)).hub.connected).toBe(false);
    await a.proc.stop();
  });

  it('refuses an expired hub certificate and one issued for another host', async () => {
    const ca = DevCa.create('Test CA');
    const dir = join(w.dir, 'bad-certs');
    mkdirSync(dir);
    writeFileSync(join(dir, 'ca.pem'), ca.pem.cert);
    const expired = ca.issue({
      cn: 'localhost',
      hosts: ['127.0.0.1', 'localhost'],
      usage: 'server',
      notBefore: new Date(Date.now() - 3 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    const otherHost = ca.issue({ cn: 'hub.elsewhere.example', hosts: ['hub.elsewhere.example'], usage: 'server' });
    for (const [name, cert, pattern] of [
      ['expired', expired, /expired/i],
      ['other-host', otherHost, /altnames|hostname|does not match/i],
    ] as const) {
      writeFileSync(join(dir, `${name}.pem`), cert.cert);
      writeFileSync(join(dir, `${name}-key.pem`), cert.key);
      const hw = new World();
      await hw.startHub(undefined, ['--tls-cert', join(dir, `${name}.pem`), '--tls-key', join(dir, `${name}-key.pem`)]);
      const cfg = agentConfig({
        dir: join(hw.dir, 'agent'),
        store: 'S1',
        apiKey: 'tbk_not_needed_here_00000',
        hubWsUrl: hw.hub.wsUrl,
        overrides: { hub: { caFile: join(dir, 'ca.pem') } },
      });
      const a = await (
        await import('@tillbridge/scripts/lib/cluster')
      ).startAgent(
        {
          dir: join(hw.dir, 'agent'),
          store: 'S1',
          apiKey: 'tbk_not_needed_here_00000',
          hubWsUrl: hw.hub.wsUrl,
          overrides: { hub: cfg.hub as Record<string, unknown> },
        },
        false,
      );
      const line = await a.proc.waitForLine((l) => l.msg === 'hub connection failed');
      expect(logged(line.err), name).toMatch(pattern);
      await a.proc.stop();
      await hw.close();
    }
  });

  it('refuses plain HTTP beyond loopback unless --insecure, which warns at every start', async () => {
    const hw = new World();
    const token = await (await import('@tillbridge/scripts/lib/cluster')).initHub(hw.hubData);
    const refused = await runCommand(process.execPath, [
      HUB_BIN,
      'serve',
      '--data',
      hw.hubData,
      ...databaseArgs(hw.hubData),
      '--listen',
      '0.0.0.0:0',
    ]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/refusing plain HTTP on 0\.0\.0\.0:0/);
    const h = await (
      await import('@tillbridge/scripts/lib/cluster')
    ).startHub({ dataDir: hw.hubData, adminToken: token, host: '0.0.0.0', extraArgs: ['--insecure'] });
    expect(h.proc.lines.some((l) => l.level === 40 && String(l.msg).startsWith('INSECURE'))).toBe(true);
    await h.proc.stop();
    // the agent side: ws:// to a hub that is not on this machine is a config error unless hub.insecure
    const dir = join(hw.dir, 'cfg');
    mkdirSync(dir);
    const file = join(dir, 'agent.json');
    writeFileSync(
      file,
      JSON.stringify(agentConfig({ dir, store: 'S1', apiKey: 'tbk_placeholder_key', hubWsUrl: 'ws://10.1.2.3:7400' })),
    );
    const r = await runCommand(process.execPath, [AGENT_BIN, 'check-config', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/hub\.url: expected a wss:\/\/ URL for a hub that is not on this machine/);
    await hw.close();
  });

  it(
    "mutual TLS: a store certificate for the token's store " + "is accepted, another store's is refused and audited",
    async () => {
      const good = await w.startAgent('S1', 'mtls-ok', {
        hub: { caFile: pem('ca.pem'), certFile: pem('store-S1.pem'), keyFile: pem('store-S1-key.pem') },
      });
      expect((await hubStatus(good.statusUrl)).hub.connected).toBe(true);
      await good.proc.stop();
      const bad = await w.startAgent(
        'S1',
        'mtls-bad',
        { hub: { caFile: pem('ca.pem'), certFile: pem('store-S2.pem'), keyFile: pem('store-S2-key.pem') } },
        false,
      );
      const line = await bad.proc.waitForLine((l) => String(l.msg).startsWith('the hub refused this store'));
      expect(String(line.msg)).toMatch(/the client certificate belongs to another store/);
      await bad.proc.stop();
      const audit = w.hubQuery<{ action: string; details: string }>(
        `SELECT action, details FROM audit WHERE action = 'auth.cert_mismatch'`,
      );
      expect(audit.length).toBeGreaterThan(0);
      expect(audit[0]!.details).toContain('"certificateStore":"S2"');
    },
  );
});
