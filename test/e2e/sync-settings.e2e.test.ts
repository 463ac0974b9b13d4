import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import type { AgentHandle } from '@tillbridge/scripts/lib/cluster';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { JsonLogProcess } from '@tillbridge/scripts/lib/process';
import { readFileSync, writeFileSync } from 'node:fs';
import { HUB_BIN } from '@tillbridge/scripts/lib/paths';
import { hubBin, sale, statusOf, worldForFile } from './fixture.js';

const w = worldForFile({ stores: ['S1', 'S2'], stock: { S1: { A: 10, B: 4 } } });

interface AgentSt {
  configVersion: number;
  outbox: { depth: number };
  hub: { connected: boolean };
}
const agentSt = (a: AgentHandle): Promise<AgentSt> => statusOf<AgentSt>(a);
interface HubSt {
  stores: {
    store: string;
    settings: { version: number; agentRuns: number | null };
    inventoryAccuracy: { ratio: number; skus: number; matching: number } | null;
  }[];
}
const hubStore = async (store: string): Promise<HubSt['stores'][number]> =>
  (await w.hub.admin.get<HubSt>(`/v1/admin/status?store=${store}`)).stores[0]!;
const configSet = async (args: string[]): Promise<number> =>
  (await w.cliJson<{ version: number }>(['config', 'set', ...args])).version;

/** Checks Prometheus text exposition format line by line; returns the samples by name{labels}. */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') {
        expect(meta[3]).toMatch(/^(counter|gauge|histogram|summary|untyped)$/);
        typed.add(meta[2]!);
      }
      continue;
    }
    const m = new RegExp(
      String.raw`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? ` +
        String.raw`(-?[0-9.e+-]+|NaN|\+Inf|-Inf)( -?\d+)?$`,
    ).exec(line);
    expect(m, `not a valid sample line: ${line}`).not.toBeNull();
    const family = m![1]!.replace(/_(bucket|sum|count|total|created)$/, '');
    expect(typed.has(m![1]!) || typed.has(family), `sample without a # TYPE: ${line}`).toBe(true);
    samples.set(`${m![1]}${m![2] ?? ''}`, Number(m![3]));
  }
  return samples;
}

describe('sync settings set centrally reach the agents; accuracy and metrics are reported', () => {
  let a: AgentHandle;

  it('applies a settings change on a connected agent without a restart, and says which version it runs', async () => {
    a = await w.startAgent('S1');
    expect((await agentSt(a)).configVersion).toBe(0);
    const v = await configSet(['S1', 'uploadMode=batched', 'uploadIntervalSeconds=3', '--note', 'slow link']);
    await waitFor('the agent to run the new version', async () => (await agentSt(a)).configVersion === v);
    await waitFor('the hub to hear it from the heartbeat', async () => (await hubStore('S1')).settings.agentRuns === v);
    // batched: a sale stays in the outbox until the next batch, then goes
    const reg = await JsonLinesRegister.connect(a.port());
    expect(await reg.send(sale('s-1', 'CFG-1', [{ sku: 'A', qty: 1, unitPrice: 500 }]))).toEqual({
      type: 'ack',
      id: 's-1',
    });
    await new Promise((r) => setTimeout(r, 800));
    expect((await agentSt(a)).outbox.depth).toBe(1);
    await waitFor('the batch to go', async () => (await agentSt(a)).outbox.depth === 0, 8000);
    // back to real time: the next sale leaves at once
    const v2 = await configSet(['S1', 'uploadMode=realtime']);
    await waitFor('realtime again', async () => (await agentSt(a)).configVersion === v2);
    await reg.send(sale('s-2', 'CFG-2', [{ sku: 'A', qty: 1, unitPrice: 500 }]));
    await waitFor('uploaded within a second', async () => (await agentSt(a)).outbox.depth === 0, 1000);
    reg.close();
    // the store that was not touched runs the defaults; a bad value is refused with the key named
    const bad = await w.hub.cli(['config', 'set', 'S1', 'uploadMode=sometimes']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/uploadMode/);
    const offline = await w.hub.cli(['config', 'set', 'S1', 'offline.maxRefundPerReturn=5000']);
    expect(offline.code).toBe(2);
    expect(offline.stderr).toMatch(
      /returns policy; use: tillbridge-hub policy set --store S1 offline\.maxRefundPerReturn/,
    );
    const show = JSON.parse((await w.hub.cli(['config', 'show', 'S1', '--json'])).stdout) as {
      version: number;
      settings: { uploadMode: string; uploadIntervalSeconds: number };
    };
    expect(show).toMatchObject({ version: v2, settings: { uploadMode: 'realtime', uploadIntervalSeconds: 3 } });
    const hist = JSON.parse((await w.hub.cli(['config', 'list', '--json'])).stdout) as {
      version: number;
      note: string | null;
    }[];
    expect(hist.map((h) => h.version)).toEqual([v2, v]);
    expect(hist[1]!.note).toBe('slow link');
  });

  it('measures inventory accuracy: a corrupted store copy shows as a drop, and is corrected', async () => {
    await configSet(['S1', 'inventoryRefreshSeconds=1']);
    await waitFor('accuracy reported at 100 %', async () => {
      const acc = (await hubStore('S1')).inventoryAccuracy;
      return acc !== null && acc.skus === 2 && acc.ratio === 1;
    });
    // damage the agent's copy behind its back (a disk restore, a bug): B on hand 4 -> 40
    const file = join(a.dataDir, 'agent.sqlite');
    const db = new Database(file);
    db.pragma('busy_timeout = 5000');
    const before = db.prepare(`SELECT on_hand FROM inventory WHERE sku = 'B'`).get() as { on_hand: number };
    db.prepare(`UPDATE inventory SET on_hand = on_hand * 10 WHERE sku = 'B'`).run();
    db.close();
    const seen: number[] = [];
    await waitFor(
      'the hub to see the drop',
      async () => {
        const acc = (await hubStore('S1')).inventoryAccuracy!;
        seen.push(acc.ratio);
        return acc.ratio === 0.5;
      },
      10_000,
      50,
    );
    await waitFor('the hub to correct the copy', () => {
      const ro = new Database(file, { readonly: true });
      try {
        return (
          (ro.prepare(`SELECT on_hand FROM inventory WHERE sku = 'B'`).get() as { on_hand: number }).on_hand ===
          before.on_hand
        );
      } finally {
        ro.close();
      }
    });
    await waitFor('accuracy back to 100 %', async () => (await hubStore('S1')).inventoryAccuracy!.ratio === 1);
  });

  it('serves Prometheus metrics at the hub and at the agent, and readiness', async () => {
    const hubText = await (await fetch(`${w.hub.url}/metrics`)).text();
    const h = parsePrometheus(hubText);
    expect(h.get('tillbridge_connected_stores')).toBe(1);
    expect(h.get('tillbridge_sync_latency_seconds_count{kind="sale"}')).toBeGreaterThanOrEqual(2);
    expect(h.get('tillbridge_inventory_accuracy_ratio{store="S1"}')).toBe(1);
    expect((await fetch(`${w.hub.url}/readyz`)).status).toBe(200);

    const agentText = await (await fetch(`${a.statusUrl}/metrics`)).text();
    const m = parsePrometheus(agentText);
    expect(m.get('tillbridge_agent_hub_connected')).toBe(1);
    expect(m.get('tillbridge_agent_outbox_depth')).toBe(0);
    expect(m.get('tillbridge_agent_settings_version')).toBe((await agentSt(a)).configVersion);
    expect([...m.keys()].some((k) => k.startsWith('tillbridge_agent_register_connections{register="R1"'))).toBe(true);
    expect((await fetch(`${a.statusUrl}/readyz`)).status).toBe(200);
    // the checker itself rejects what is not the format
    expect(() => parsePrometheus('# TYPE x gauge\nx{a=b} 1')).toThrow();
  });

  it('status shows settings and accuracy per store, and --watch refreshes until stopped', async () => {
    const text = await w.hub.cli(['status']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/SETTINGS \(AGENT\)/);
    expect(text.stdout).toMatch(/100\.0 % of 2/);
    const watch = JsonLogProcess.spawn('watch', process.execPath, [HUB_BIN, 'status', '--watch', '300ms', '--json'], {
      TILLBRIDGE_HUB_URL: w.hub.url,
      TILLBRIDGE_ADMIN_TOKEN: w.adminToken,
    });
    await waitFor('three refreshes', () => watch.lines.filter((l) => Array.isArray(l.stores)).length >= 3, 10_000);
    expect(await watch.stop()).toEqual({ code: 0, signal: null });
    expect((watch.lines[0] as { connectedStores: number }).connectedStores).toBe(1);
    expect((await w.hub.cli(['status', '--watch', 'soon'])).code).toBe(2);
  });

  it('audit entries say where they came from, and the chain with them verifies', async () => {
    const origins = w.hubQuery<{ action: string; origin: string | null }>(
      `SELECT action, origin FROM audit ORDER BY id`,
    );
    expect(origins.find((o) => o.action === 'hub.init')?.origin).toBe('cli:local');
    expect(origins.filter((o) => o.action === 'config.set').every((o) => o.origin === 'ip:127.0.0.1')).toBe(true);
    const fromAgent = origins.filter((o) => o.action === 'sale.record' || o.action.startsWith('sale'));
    expect(fromAgent.length).toBeGreaterThan(0);
    expect(fromAgent.every((o) => /^agent:[0-9a-f-]{36}$/.test(o.origin ?? ''))).toBe(true);
    const v = await w.hub.cli(['audit', 'verify', '--json']);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    // an export checked away from the hub against a signed checkpoint; an edited one is refused
    const cp = join(w.dir, 'checkpoint.json');
    const ex = join(w.dir, 'audit.jsonl');
    const pub = join(w.dir, 'audit-key.pem');
    for (const args of [
      ['audit', 'checkpoint', '--now', '--out', cp],
      ['audit', 'export', '--all', '--out', ex],
      ['audit', 'public-key', '--out', pub],
    ]) {
      const r = await w.hub.cli(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    const verify = () => hubBin(['audit', 'verify', '--checkpoint', cp, '--export', ex, '--public-key', pub]);
    const ok = await verify();
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    const lines = readFileSync(ex, 'utf8').trimEnd().split('\n');
    const third = JSON.parse(lines[2]!) as { outcome: string };
    lines[2] = JSON.stringify({ ...third, outcome: `${third.outcome}!` });
    writeFileSync(ex, `${lines.join('\n')}\n`);
    const bad = await verify();
    expect(bad.code, bad.stdout + bad.stderr).toBe(5);
    expect(bad.stdout + bad.stderr).toMatch(/entry 3/);
  });
});
