/**
 * `npm run bench -- feed` (or `node bench/dist/feed.js` after a build): the ERP feed relayed to
 * RabbitMQ (docs/erp-feed.md#to-a-message-broker-rabbitmq) beside the hub's ingest in the same run, and the floor.
 *
 * - ingest: BENCH_FEED_SALES (20 000) sales through the hub's apply path (`EventApplier.applyBatches`,
 *   flushes of 25 agents × 10 sales, as in `bench apply`), the relay running in the same process
 *   and publishing as they commit; the relay's rate is feed entries confirmed per second until its
 *   cursor reaches the head.
 * - relay alone: a second relay (its own exchange) catching up the whole feed from position 0.
 * - floor: raw amqplib, one confirm channel, the same message size, batches of the relay's size
 *   (500) published then waitForConfirms — what the broker takes at most this way.
 * Each exchange has one durable queue bound to "#", drained by a consumer, deleted at the end.
 * RabbitMQ at BENCH_AMQP_URL (amqp://guest:guest@127.0.0.1:5672). On a fresh SQLite hub, or with
 * BENCH_DATABASE (postgres://…) on PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import amqp from 'amqplib';
import { createLogger, type WireEvent } from '@tillbridge/shared';
import { AmqpRelay, initHub, openHub, type Hub } from '@tillbridge/central';
import { createTestDatabase } from '@tillbridge/scripts/lib/pg-test-db';

const SALES = Number(process.env.BENCH_FEED_SALES ?? 20_000);
const URL_ = process.env.BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const DATABASE = process.env.BENCH_DATABASE || undefined;
const BATCH = 10;
const FLUSH = 25;
const RELAY_BATCH = 500;

function sale(seq: number, agent: number): WireEvent {
  const receipt = `F${agent}-${seq}`;
  return {
    seq,
    id: `ev-${agent}-${seq}`,
    kind: 'sale',
    register: 'R1',
    at: '2026-11-27T10:00:00.000Z',
    body: {
      requestId: `m-${receipt}`,
      receipt,
      at: '2026-11-27T10:00:00Z',
      currency: 'EUR',
      lines: [{ line: 1, sku: `SKU-${seq % 50}`, qty: 1, unitPrice: 1000 }],
      tenders: [{ kind: 'cash', amount: 1000 }],
    },
  };
}

/** An exchange with a durable queue bound to "#" and a consumer draining it; `drop` deletes both. */
async function sink(
  conn: amqp.ChannelModel,
  exchange: string,
): Promise<{ received: () => number; drop: () => Promise<void> }> {
  const ch = await conn.createChannel();
  await ch.assertExchange(exchange, 'topic', { durable: true });
  const q = `${exchange}.all`;
  await ch.assertQueue(q, { durable: true });
  await ch.bindQueue(q, exchange, '#');
  let n = 0;
  await ch.consume(
    q,
    () => {
      n++;
    },
    { noAck: true },
  );
  return {
    received: () => n,
    drop: async () => {
      await ch.deleteQueue(q);
      await ch.deleteExchange(exchange);
      await ch.close();
    },
  };
}

async function untilCaughtUp(_hub: Hub, relay: AmqpRelay, limitMs: number): Promise<void> {
  const end = performance.now() + limitMs;
  while (relay.status().lag > 0 || relay.status().position === 0) {
    if (performance.now() > end)
      throw new Error(`the relay did not catch up within ${limitMs} ms: ${JSON.stringify(relay.status())}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function main(): Promise<void> {
  const log = createLogger({ name: 'bench-feed', level: process.env.BENCH_LOG ?? 'silent' });
  const dir = mkdtempSync(join(tmpdir(), 'tb-feed-'));
  if (DATABASE) process.env.TILLBRIDGE_TEST_PG_URL = DATABASE;
  const db = DATABASE ? createTestDatabase('tb_bench_feed') : undefined;
  const conn = await amqp.connect(URL_);
  const tag = randomBytes(4).toString('hex');
  const drops: (() => Promise<void>)[] = [];
  try {
    initHub(dir, log, undefined, db?.url);
    const hub = openHub({ dataDir: dir, database: db?.url, tokenLifetimeSec: 900, log });
    try {
      for (let a = 0; a < FLUSH; a++) hub.stores.create(`S${a}`, `S${a}`);
      // 1. ingest with the relay publishing as the commits land
      const ex1 = `tb-bench-feed.${tag}.live`;
      const s1 = await sink(conn, ex1);
      drops.push(s1.drop);
      const live = new AmqpRelay(hub.storage, hub.erpFeed, {
        url: URL_,
        exchange: ex1,
        log,
        clock: hub.clock,
        batchSize: RELAY_BATCH,
      });
      live.start();
      const seqs = new Array<number>(FLUSH).fill(0);
      let done = 0;
      const t0 = performance.now();
      while (done < SALES) {
        const out = hub.applier.applyBatches(
          Array.from({ length: FLUSH }, (_, a) => ({
            store: `S${a}`,
            agentId: `agent-${a}`,
            incarnation: 'inc-1',
            items: Array.from({ length: BATCH }, () => sale(++seqs[a]!, a)),
          })),
        );
        const bad = out.find((o) => !o.ok);
        if (bad && !bad.ok) throw bad.error;
        done += FLUSH * BATCH;
        // the relay's turn on the event loop, as between the ingest queue's flushes
        await new Promise((r) => setImmediate(r));
      }
      const ingestMs = performance.now() - t0;
      await untilCaughtUp(hub, live, 300_000);
      const liveMs = performance.now() - t0;
      await live.stop();
      const entries = hub.erpFeed.head();
      const sample = hub.erpFeed.read(0, 1000).entries;
      const size = Math.round(sample.reduce((s, e) => s + Buffer.byteLength(JSON.stringify(e)), 0) / sample.length);

      // 2. a relay alone, catching up the whole feed
      const ex2 = `tb-bench-feed.${tag}.catchup`;
      const s2 = await sink(conn, ex2);
      drops.push(s2.drop);
      const alone = new AmqpRelay(hub.storage, hub.erpFeed, {
        url: URL_,
        exchange: ex2,
        log,
        clock: hub.clock,
        batchSize: RELAY_BATCH,
      });
      const t1 = performance.now();
      alone.start();
      await untilCaughtUp(hub, alone, 300_000);
      const aloneMs = performance.now() - t1;
      await alone.stop();

      // 3. the floor: raw confirmed publishes of the same size, same batches
      const ex3 = `tb-bench-feed.${tag}.floor`;
      const s3 = await sink(conn, ex3);
      drops.push(s3.drop);
      const ch = await conn.createConfirmChannel();
      const body = Buffer.alloc(size, 'x');
      const t2 = performance.now();
      for (let i = 0; i < entries; i += RELAY_BATCH) {
        for (let j = i; j < Math.min(entries, i + RELAY_BATCH); j++)
          ch.publish(ex3, 'sale.recorded.S0', body, {
            persistent: true,
            mandatory: true,
            messageId: `m-${j}`,
            contentType: 'application/json',
          });
        await ch.waitForConfirms();
      }
      const floorMs = performance.now() - t2;
      await ch.close();

      const ingestRate = done / (ingestMs / 1000);
      const liveRate = entries / (liveMs / 1000);
      const aloneRate = entries / (aloneMs / 1000);
      const floorRate = entries / (floorMs / 1000);
      const engine = DATABASE ? 'PostgreSQL' : 'SQLite';
      process.stdout.write(
        `ERP feed → RabbitMQ (${engine}; ${done} sales, ${entries} feed entries of ~${size} bytes; relay batches of ${RELAY_BATCH}, confirmed)\n` +
          `  ingest (apply path, relay running):     ${ingestRate.toFixed(0)} sales/s (${(entries / (ingestMs / 1000)).toFixed(0)} feed entries/s)\n` +
          `  relayed while ingesting, to lag 0:      ${liveRate.toFixed(0)} entries/s (cursor at the head ${(liveMs - ingestMs).toFixed(0)} ms after the last commit)\n` +
          `  relay alone, catching up from 0:        ${aloneRate.toFixed(0)} entries/s\n` +
          `  floor: raw amqplib confirmed publishes: ${floorRate.toFixed(0)} messages/s (same size, batches of ${RELAY_BATCH})\n` +
          `  ratio relay alone / floor:              ${(aloneRate / floorRate).toFixed(2)}×\n`,
      );
      if (process.argv.includes('--json'))
        process.stdout.write(
          `${JSON.stringify({ engine, sales: done, entries, size, ingestRate, liveRate, aloneRate, floorRate, ratio: aloneRate / floorRate })}\n`,
        );
    } finally {
      hub.close();
    }
  } finally {
    for (const d of drops) await d().catch(() => undefined);
    await conn.close().catch(() => undefined);
    db?.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench feed failed: ${(err as Error).stack}\n`);
  process.exit(1);
});
