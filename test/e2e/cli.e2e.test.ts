import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentConfig, databaseArgs } from '@tillbridge/scripts/lib/cluster';
import { AGENT_BIN, HUB_BIN } from '@tillbridge/scripts/lib/paths';
import { runCommand } from '@tillbridge/scripts/lib/process';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { sale, worldForFile } from './fixture.js';

const w = worldForFile();

const agentCli = (...args: string[]) => runCommand(process.execPath, [AGENT_BIN, ...args]);

function writeConfig(name: string, cfg: unknown): string {
  const dir = join(w.dir, 'configs');
  mkdirSync(dir, { recursive: true });
  const f = join(dir, `${name}.json`);
  writeFileSync(f, typeof cfg === 'string' ? cfg : JSON.stringify(cfg));
  return f;
}

describe('tillbridge-agent', () => {
  const base = () =>
    agentConfig({ dir: join(w.dir, 'cfg-agent'), store: 'S1', apiKey: 'tbk_placeholder_key', hubWsUrl: w.hub.wsUrl });

  it.each([
    ['an unknown key', (c: Record<string, unknown>) => ({ ...c, registerz: [] }), /unknown key "registerz"/],
    [
      'a port that is not a number',
      (c: Record<string, unknown>) => ({
        ...c,
        registers: [{ id: 'R1', transport: { type: 'tcp-server', port: 'x' } }],
      }),
      /registers\[0\]\.transport\.port: expected number/,
    ],
    [
      'a missing API key',
      (c: Record<string, unknown>) => ({ ...c, hub: { url: 'ws://127.0.0.1:1' } }),
      /hub\.apiKey: expected string \(missing\)/,
    ],
    [
      'an http hub URL',
      (c: Record<string, unknown>) => ({ ...c, hub: { url: 'http://127.0.0.1:1', apiKey: 'tbk_placeholder' } }),
      /hub\.url: expected a ws:\/\/ or wss:\/\/ URL/,
    ],
    [
      'an unknown transport',
      (c: Record<string, unknown>) => ({ ...c, registers: [{ id: 'R1', transport: { type: 'carrier-pigeon' } }] }),
      /registers\[0\]\.transport\.type/,
    ],
  ])('refuses a config with %s: exit 2, naming the key', async (_name, mutate, pattern) => {
    const f = writeConfig(_name.replace(/\W+/g, '-'), mutate(base()));
    const r = await agentCli('run', '--config', f);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(pattern);
    expect((await agentCli('check-config', '--config', f)).code).toBe(2);
  });

  it('refuses a config file that is not JSON, or missing', async () => {
    const r = await agentCli('run', '--config', writeConfig('broken', '{"store": '));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not valid JSON/);
    const m = await agentCli('run', '--config', join(w.dir, 'nope.json'));
    expect(m.code).toBe(2);
    expect(m.stderr).toMatch(/cannot read config file/);
    const none = await runCommand(process.execPath, [AGENT_BIN, 'run'], { TILLBRIDGE_CONFIG: '' });
    expect(none.code).toBe(2);
  });

  it('status: live from the running agent, from the database when it is down', async () => {
    await w.addStore('S1');
    const a = await w.startAgent('S1');
    const live = await agentCli('status', '--config', a.configFile, '--json');
    expect(live.code).toBe(0);
    expect(JSON.parse(live.stdout)).toMatchObject({
      store: 'S1',
      running: true,
      hub: { connected: true },
      outbox: { depth: 0 },
      registers: [{ id: 'R1', state: 'listening' }],
    });
    const human = await agentCli('status', '--config', a.configFile);
    expect(human.stdout).toMatch(/hub .* connected since/);
    await w.hub.proc.stop();
    const reg = await JsonLinesRegister.connect(a.port());
    await reg.send(sale('st-1', 'STATUS-1', [{ sku: 'A', qty: 1, unitPrice: 1 }]));
    reg.close();
    await a.proc.stop();
    const down = await agentCli('status', '--config', a.configFile, '--json');
    expect(down.code).toBe(3);
    expect(JSON.parse(down.stdout)).toMatchObject({ running: false, outbox: { depth: 1 } });
    await w.startHub(w.hub.port);
  });
});

describe('tillbridge-hub', () => {
  it('init refuses to overwrite a hub', async () => {
    const r = await runCommand(process.execPath, [HUB_BIN, 'init', '--data', w.hubData]);
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/already holds a hub/);
  });

  it('manages stores, inventory and reads with --json', async () => {
    const add = await w.hub.cli(['stores', 'add', 'S9', '--name', 'Ninth', '--json']);
    expect(add.code).toBe(0);
    expect(JSON.parse(add.stdout)).toMatchObject({ store: 'S9', apiKey: expect.stringMatching(/^tbk_/) });
    expect((await w.hub.cli(['stores', 'add', 'S9'])).code).toBe(6);
    expect((await w.hub.cli(['stores', 'add', 'bad id!'])).code).toBe(2);
    expect(JSON.parse((await w.hub.cli(['stores', 'list', '--json'])).stdout)).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: 'S9', name: 'Ninth' })]),
    );

    expect((await w.hub.cli(['inventory', 'set', 'S9', 'SKU-1', '12'])).code).toBe(0);
    const csv = join(w.dir, 'stock.csv');
    writeFileSync(csv, 'store,sku,qty\nS9,SKU-2,5\nS9,SKU-1,7\n');
    expect(JSON.parse((await w.hub.cli(['inventory', 'import', csv, '--json'])).stdout)).toEqual({
      import: expect.any(String),
      rows: 2,
      changed: 2,
      stores: ['S9'],
    });
    const show = JSON.parse((await w.hub.cli(['inventory', 'show', 'S9', '--json'])).stdout);
    expect(show).toEqual([
      { store: 'S9', sku: 'SKU-1', onHand: 7, reserved: 0, available: 7 },
      { store: 'S9', sku: 'SKU-2', onHand: 5, reserved: 0, available: 5 },
    ]);
    writeFileSync(csv, 'store,sku,qty\nS9,SKU-3,1\nNOPE,SKU-1,1\n');
    const bad = await w.hub.cli(['inventory', 'import', csv]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/line 3, column store: no store "NOPE"/);
    expect(bad.stderr).toMatch(/nothing was applied/);
    // nothing applied: no stock record of SKU-3
    expect((await w.hub.cli(['inventory', 'show', 'S9', 'SKU-3', '--json'])).code).toBe(3);
    expect((await w.hub.cli(['inventory', 'show', 'NOPE'])).code).toBe(3);
    expect((await w.hub.cli(['sales', 'show', 'NOPE'])).code).toBe(3);
    expect(JSON.parse((await w.hub.cli(['status', '--json'])).stdout).stores).toEqual(
      expect.arrayContaining([expect.objectContaining({ store: 'S9', connected: false })]),
    );
    expect((await w.hub.cli(['returns', 'list', '--json'])).code).toBe(0);
  });

  it('refuses a wrong admin token with exit 4', async () => {
    const r = await runCommand(process.execPath, [HUB_BIN, 'stores', 'list'], {
      TILLBRIDGE_HUB_URL: w.hub.url,
      TILLBRIDGE_ADMIN_TOKEN: 'tba_wrong',
    });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/admin token/);
  });

  it('audit verify fails, naming the entry, when a row was changed in the database', async () => {
    expect((await w.hub.cli(['audit', 'verify'])).code).toBe(0);
    expect(w.hubExec(`UPDATE audit SET outcome = 'nothing to see' WHERE id = 2`)).toBe(1);
    const api = await w.hub.cli(['audit', 'verify']);
    expect(api.code).toBe(5);
    expect(api.stdout).toMatch(/entry 2/);
    const offline = await runCommand(process.execPath, [
      HUB_BIN,
      'audit',
      'verify',
      '--data',
      w.hubData,
      ...databaseArgs(w.hubData),
      '--json',
    ]);
    expect(offline.code).toBe(5);
    expect(JSON.parse(offline.stdout)).toMatchObject({ ok: false, firstBad: 2 });
  });
});
