import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  addStore,
  databaseArgs,
  dropTestDatabase,
  initHub,
  startHub,
  type HubHandle,
} from '@tillbridge/scripts/lib/cluster';
import { HUB_BIN } from '@tillbridge/scripts/lib/paths';
import { runCommand } from '@tillbridge/scripts/lib/process';
import { openHubStorage, type HubStorage } from '@tillbridge/central';
import { createLogger } from '@tillbridge/shared';
import { createTestDatabase, pgUnavailable } from '@tillbridge/scripts/lib/pg-test-db';
import { RABBIT_URL, randomName, reachable, TestConsumer, until } from '../support/rabbit.js';
import { World } from './fixture.js';

/**
 * The ERP feed relay in a real `tillbridge-hub serve` process against the real RabbitMQ at
 * 127.0.0.1:5672 (skipped, saying so, when it is unreachable; CI runs one): a SIGKILL mid-relay
 * loses nothing and doubles at most the one batch between the broker's confirms and the cursor's
 * commit; a bad --amqp-url stops `serve` before it starts.
 */

const broker = await reachable();
if (!broker)
  console.warn(
    'amqp-relay.e2e.test.ts: RabbitMQ not reachable at 127.0.0.1:5672 — ' +
      'the relay tests are SKIPPED (start it: rabbitmq-server -detached)',
  );

const dirs: string[] = [];
const hubs: HubHandle[] = [];
afterAll(async () => {
  for (const h of hubs) await h.proc.stop().catch(() => undefined);
  for (const d of dirs) {
    dropTestDatabase(d);
    rmSync(d, { recursive: true, force: true });
  }
});

const BATCH = 500; // the relay's batch
const sale = (store: string, receipt: string): string =>
  JSON.stringify({
    store,
    channel: 'web',
    receipt,
    at: '2026-11-27T10:00:00Z',
    currency: 'EUR',
    lines: [{ line: 1, sku: 'A', qty: 1, unitPrice: 100 }],
    tenders: [],
  });

function feedIds(dataDir: string): string[] {
  const storage: HubStorage = openHubStorage(dataDir, {
    database: databaseArgs(dataDir)[1],
    log: createLogger({ name: 'test', level: 'silent' }),
  });
  try {
    return (storage.db.prepare('SELECT id FROM feed ORDER BY position').all() as { id: string }[]).map((r) => r.id);
  } finally {
    storage.close();
  }
}

describe('serve --amqp-url', () => {
  it('a bad --amqp-url: exit code non-zero, the message names the option, no password shown', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tb-amqp-bad-'));
    dirs.push(dir);
    await initHub(dir);
    for (const [url, word] of [
      ['not a url', '--amqp-url'],
      ['http://guest:sekrit@127.0.0.1:5672', '--amqp-url'],
    ] as const) {
      const r = await runCommand(process.execPath, [
        HUB_BIN,
        'serve',
        '--data',
        dir,
        ...databaseArgs(dir),
        '--listen',
        '127.0.0.1:0',
        '--amqp-url',
        url,
      ]);
      expect(r.code).not.toBe(0);
      expect(r.stderr + r.stdout).toContain(word);
      expect(r.stderr + r.stdout).not.toContain('sekrit');
    }
    const env = await runCommand(
      process.execPath,
      [HUB_BIN, 'serve', '--data', dir, ...databaseArgs(dir), '--listen', '127.0.0.1:0'],
      { TILLBRIDGE_AMQP_URL: 'redis://x:sekrit@h' },
    );
    expect(env.code).not.toBe(0);
    expect(env.stderr + env.stdout).toContain('TILLBRIDGE_AMQP_URL');
    expect(env.stderr + env.stdout).not.toContain('sekrit');
  });

  it.skipIf(!broker)(
    'SIGKILL of the hub mid-relay, then a restart: every entry at least once, ' +
      'exactly once after dedupe by messageId, duplicates within one batch',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tb-amqp-kill-'));
      dirs.push(dir);
      const adminToken = await initHub(dir);
      const exchange = randomName('tb-e2e');
      const c = await TestConsumer.open(exchange);
      try {
        await c.bind('all', '#');
        const args = ['--amqp-url', RABBIT_URL, '--amqp-exchange', exchange];
        const first = await startHub({ dataDir: dir, adminToken, extraArgs: args });
        hubs.push(first);
        await addStore(first, 'S001');
        await addStore(first, 'S002');
        // sales keep coming in chunks while the relay publishes them
        let posted = 0;
        const feeding = (async () => {
          for (let k = 0; k < 12; k++) {
            const body = Array.from({ length: 1000 }, (_, i) => sale(i % 2 ? 'S002' : 'S001', `K${k}-${i}`)).join('\n');
            await first.admin.post('/v1/admin/sales', body, 'application/x-ndjson');
            posted += 1000;
          }
        })().catch(() => undefined); // cut short by the kill
        await until(() => c.ids('all').length >= 1500, 60_000, 'the relay to be well under way');
        await first.proc.kill(); // kill -9, mid-relay
        const atKill = c.ids('all').length;
        await feeding;
        expect(first.proc.running).toBe(false);

        const second = await startHub({ dataDir: dir, adminToken, extraArgs: args });
        hubs.push(second);
        let status: {
          feedRelay: { lag: number; head: number; connected: boolean; relaying: boolean; broker: string } | null;
        } = { feedRelay: null };
        // The killed hub's relay lease holds until it runs out (15 s): the lag may be 0 before this process relays,
        // when the first published everything it had before the kill.
        const deadline = Date.now() + 90_000;
        while (Date.now() < deadline) {
          status = await second.admin.get('/v1/admin/status');
          const r = status.feedRelay;
          if (r?.lag === 0 && r.head > 0 && r.connected && r.relaying) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        expect(status.feedRelay).toMatchObject({
          lag: 0,
          connected: true,
          relaying: true,
          broker: 'amqp://guest:***@127.0.0.1:5672',
        });
        const cli = await second.cli(['status']);
        expect(cli.stdout).toMatch(/feed relay: .*connected; this process relays; lag 0/);
        expect(cli.stdout).not.toContain(':guest@');
        expect(JSON.stringify(second.proc.lines)).not.toContain(':guest@');
        await until(
          () => c.ids('all').length >= status.feedRelay!.head,
          30_000,
          'the last messages to reach the queue',
        );
        await second.proc.stop();

        const ids = feedIds(dir);
        const got = new Map<string, number>();
        for (const id of c.ids('all')) got.set(id, (got.get(id) ?? 0) + 1);
        const missing = ids.filter((id) => !got.has(id));
        const duplicates = [...got.values()].reduce((s, k) => s + k - 1, 0);
        console.info(
          `SIGKILL mid-relay: ${posted} sales posted before the kill ended the ` +
            `import, ${ids.length} feed entries, ${atKill} messages received ` +
            `at the kill, ${c.ids('all').length} in all; missing ${missing.length}; ` +
            `duplicates ${duplicates} (at most one batch of ${BATCH})`,
        );
        expect(ids.length).toBeGreaterThan(1500);
        expect(missing).toEqual([]);
        expect(new Set(got.keys())).toEqual(new Set(ids)); // after dedupe by messageId: exactly the feed
        expect(duplicates).toBeLessThanOrEqual(BATCH);
        // each id's first arrival is in position order
        const firsts: string[] = [];
        const seen = new Set<string>();
        for (const id of c.ids('all'))
          if (!seen.has(id)) {
            seen.add(id);
            firsts.push(id);
          }
        expect(firsts).toEqual(ids);
      } finally {
        await c.close();
      }
    },
    180_000,
  );
});

interface RelayView {
  relaying: boolean;
  connected: boolean;
  lag: number;
  head: number;
  relayed: number;
  lease: { holder: string; until: string } | null;
}
const relayOf = async (h: HubHandle): Promise<RelayView> =>
  (await h.admin.get<{ feedRelay: RelayView }>('/v1/admin/status')).feedRelay;

const pgSkip = pgUnavailable();
if (pgSkip) console.warn(`amqp-relay.e2e.test.ts: the two-process lease test is skipped (PostgreSQL) — ${pgSkip}`);

describe.skipIf(!broker || !!pgSkip)('two serve processes on one PostgreSQL database, both with --amqp-url', () => {
  it('only the lease holder relays; kill -9 it and the other takes over within the lease, losing nothing', async () => {
    const db = createTestDatabase();
    const w = new World({ database: db.url });
    const exchange = randomName('tb-e2e');
    const c = await TestConsumer.open(exchange);
    try {
      await c.bind('all', '#');
      const args = ['--amqp-url', RABBIT_URL, '--amqp-exchange', exchange];
      const h1 = await w.startHub(undefined, args, { name: 'hub1' });
      await until(
        () => h1.proc.lines.some((l) => l.msg === 'feed relay: lease taken, relaying'),
        10_000,
        'hub1 to take the lease',
      );
      const h2 = await w.startHub(undefined, args, { dataDir: join(w.dir, 'hub2'), name: 'hub2' });
      await addStore(h1, 'S001');
      const post = async (h: HubHandle, prefix: string, count: number): Promise<void> => {
        await h.admin.post(
          '/v1/admin/sales',
          Array.from({ length: count }, (_, i) => sale('S001', `${prefix}-${i}`)).join('\n'),
          'application/x-ndjson',
        );
      };
      await post(h2, 'A', 300); // committed by hub2, relayed by hub1 (the lease holder)
      let v1 = await relayOf(h1);
      for (let t = 0; t < 100 && !(v1.lag === 0 && v1.head > 0); t++) {
        await new Promise((r) => setTimeout(r, 100));
        v1 = await relayOf(h1);
      }
      const v2 = await relayOf(h2);
      expect(v1).toMatchObject({ relaying: true, connected: true, lag: 0, relayed: v1.head });
      expect(v2).toMatchObject({ relaying: false, connected: false, relayed: 0 });
      expect(v2.lease?.holder).toBe(v1.lease?.holder);

      await h1.proc.kill(); // kill -9 the lease holder
      await post(h2, 'B', 300);
      let after = await relayOf(h2);
      const deadline = Date.now() + 90_000; // the lease (15 s) runs out, then hub2 takes it
      while (Date.now() < deadline && !(after.relaying && after.lag === 0)) {
        await new Promise((r) => setTimeout(r, 200));
        after = await relayOf(h2);
      }
      expect(after).toMatchObject({ relaying: true, connected: true, lag: 0 });
      expect(after.relayed).toBeGreaterThan(0);
      await until(() => new Set(c.ids('all')).size >= after.head, 30_000, 'every entry at the queue');
      const ids = c.ids('all');
      const duplicates = ids.length - new Set(ids).size;
      console.info(
        `lease takeover: ${after.head} entries, hub1 relayed ${v1.relayed} ` +
          `before its kill, hub2 ${after.relayed} after; duplicates ${duplicates}`,
      );
      expect(new Set(ids).size).toBe(after.head);
      expect(duplicates).toBeLessThanOrEqual(BATCH);
    } finally {
      await c.close();
      await w.close();
      db.drop();
    }
  }, 180_000);
});
