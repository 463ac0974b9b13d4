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
import { createLogger, type Logger } from '@tillbridge/shared';
import { AmqpRelay, initHub, openHub, type Hub } from '@tillbridge/central';
import { createTestDatabase } from '@tillbridge/scripts/lib/pg-test-db';
import { applyFlush, envOrUndefined, saleFlush } from './sales.js';

const SALES = Number(process.env.BENCH_FEED_SALES ?? 20_000);
const URL_ = process.env.BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const DATABASE = envOrUndefined('BENCH_DATABASE');
const BATCH = 10;
const FLUSH = 25;
const RELAY_BATCH = 500;

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

interface Run {
  hub: Hub;
  conn: amqp.ChannelModel;
  log: Logger;
  /** This run's exchanges are tb-bench-feed.{tag}.* */
  tag: string;
  /** Deletes the exchanges and queues made, at the end. */
  drops: (() => Promise<void>)[];
}

/** A relay to a new exchange (with its sink) of this run. */
async function relayTo(run: Run, name: string): Promise<AmqpRelay> {
  const exchange = `tb-bench-feed.${run.tag}.${name}`;
  const sunk = await sink(run.conn, exchange);
  run.drops.push(sunk.drop);
  const { hub, log } = run;
  return new AmqpRelay(hub.storage, hub.erpFeed, {
    url: URL_,
    exchange,
    log,
    clock: hub.clock,
    batchSize: RELAY_BATCH,
  });
}

/** 1. ingest with the relay publishing as the commits land: sales applied, and the ms to apply and to relay them. */
async function ingestWithRelay(run: Run): Promise<{ done: number; ingestMs: number; liveMs: number }> {
  const live = await relayTo(run, 'live');
  live.start();
  const seqs = new Array<number>(FLUSH).fill(0);
  let done = 0;
  const t0 = performance.now();
  while (done < SALES) {
    applyFlush(run.hub, saleFlush('F', seqs, BATCH));
    done += FLUSH * BATCH;
    // the relay's turn on the event loop, as between the ingest queue's flushes
    await new Promise((r) => setImmediate(r));
  }
  const ingestMs = performance.now() - t0;
  await untilCaughtUp(run.hub, live, 300_000);
  const liveMs = performance.now() - t0;
  await live.stop();
  return { done, ingestMs, liveMs };
}

/** 2. a relay alone, catching up the whole feed: the ms it takes. */
async function relayAlone(run: Run): Promise<number> {
  const alone = await relayTo(run, 'catchup');
  const t1 = performance.now();
  alone.start();
  await untilCaughtUp(run.hub, alone, 300_000);
  const aloneMs = performance.now() - t1;
  await alone.stop();
  return aloneMs;
}

/** 3. the floor: raw confirmed publishes of the same size, same batches; the ms they take. */
async function floorPublishes(run: Run, entries: number, size: number): Promise<number> {
  const exchange = `tb-bench-feed.${run.tag}.floor`;
  const sunk = await sink(run.conn, exchange);
  run.drops.push(sunk.drop);
  const ch = await run.conn.createConfirmChannel();
  const body = Buffer.alloc(size, 'x');
  const t2 = performance.now();
  for (let i = 0; i < entries; i += RELAY_BATCH) {
    for (let j = i; j < Math.min(entries, i + RELAY_BATCH); j++)
      ch.publish(exchange, 'sale.recorded.S0', body, {
        persistent: true,
        mandatory: true,
        messageId: `m-${j}`,
        contentType: 'application/json',
      });
    await ch.waitForConfirms();
  }
  const floorMs = performance.now() - t2;
  await ch.close();
  return floorMs;
}

async function measure(run: Run): Promise<void> {
  const { hub } = run;
  for (let a = 0; a < FLUSH; a++) hub.stores.create(`S${a}`, `S${a}`);
  const { done, ingestMs, liveMs } = await ingestWithRelay(run);
  const entries = hub.erpFeed.head();
  const sample = hub.erpFeed.read(0, 1000).entries;
  const size = Math.round(sample.reduce((s, e) => s + Buffer.byteLength(JSON.stringify(e)), 0) / sample.length);
  const aloneMs = await relayAlone(run);
  const floorMs = await floorPublishes(run, entries, size);

  const ingestRate = done / (ingestMs / 1000);
  const liveRate = entries / (liveMs / 1000);
  const aloneRate = entries / (aloneMs / 1000);
  const floorRate = entries / (floorMs / 1000);
  const engine = DATABASE ? 'PostgreSQL' : 'SQLite';
  process.stdout.write(
    `ERP feed → RabbitMQ (${engine}; ${done} sales, ${entries} feed entries of ~${size} bytes; relay batches of ` +
      `${RELAY_BATCH}, confirmed)\n` +
      `  ingest (apply path, relay running):     ${ingestRate.toFixed(0)} sales/s ` +
      `(${(entries / (ingestMs / 1000)).toFixed(0)} feed entries/s)\n` +
      `  relayed while ingesting, to lag 0:      ${liveRate.toFixed(0)} entries/s (cursor at the head ` +
      `${(liveMs - ingestMs).toFixed(0)} ms after the last commit)\n` +
      `  relay alone, catching up from 0:        ${aloneRate.toFixed(0)} entries/s\n` +
      `  floor: raw amqplib confirmed publishes: ${floorRate.toFixed(0)} messages/s (same size, batches of ` +
      `${RELAY_BATCH})\n` +
      `  ratio relay alone / floor:              ${(aloneRate / floorRate).toFixed(2)}×\n`,
  );
  if (process.argv.includes('--json'))
    process.stdout.write(
      `${JSON.stringify({
        engine,
        sales: done,
        entries,
        size,
        ingestRate,
        liveRate,
        aloneRate,
        floorRate,
        ratio: aloneRate / floorRate,
      })}\n`,
    );
}

async function main(): Promise<void> {
  const log = createLogger({ name: 'bench-feed', level: process.env.BENCH_LOG ?? 'silent' });
  const dir = mkdtempSync(join(tmpdir(), 'tb-feed-'));
  if (DATABASE) process.env.TILLBRIDGE_TEST_PG_URL = DATABASE;
  const db = DATABASE ? createTestDatabase('tb_bench_feed') : undefined;
  const conn = await amqp.connect(URL_);
  const drops: (() => Promise<void>)[] = [];
  try {
    initHub(dir, log, undefined, db?.url);
    const hub = openHub({ dataDir: dir, database: db?.url, tokenLifetimeSec: 900, log });
    try {
      await measure({ hub, conn, log, tag: randomBytes(4).toString('hex'), drops });
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
