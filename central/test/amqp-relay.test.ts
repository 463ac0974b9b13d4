import { describe, expect, it } from 'vitest';
import { type Hub } from '../src/hub-services.js';
import { AmqpRelay, checkAmqpUrl, routingKeyOf } from '../src/feed/amqp-relay.js';
import { amqpOptions } from '../src/cli/commands/hub.js';
import { HubMetrics } from '../src/metrics/hub-metrics.js';
import type { FeedEventType } from '../src/feed/feed.js';
import { CuttableProxy, RABBIT_URL, randomName, reachable, TestConsumer, until } from '../../test/support/rabbit.js';
import { cleanupsAfterEach, hubEngines, silent, testHub, twoHubProcesses } from './helpers.js';

/**
 * The ERP feed's relay to RabbitMQ (docs/erp-feed-amqp.md), against the real broker at
 * 127.0.0.1:5672 (CI runs one). Each test has an exchange and queues of its own, deleted after.
 */

const broker = await reachable();
if (!broker)
  console.warn(
    'amqp-relay.test.ts: RabbitMQ not reachable at 127.0.0.1:5672 — the broker tests are SKIPPED ' +
      '(start it: rabbitmq-server -detached)',
  );

const cleanups = cleanupsAfterEach();

let n = 0;
/** Appends feed entries as the domain does: inside a transaction (ids e-<prefix>-<i>). */
function append(hub: Hub, prefix: string, count: number, stores = ['S001', 'S002', null]): string[] {
  const ids: string[] = [];
  hub.storage.tx(() => {
    for (let i = 0; i < count; i++) {
      const store = stores[i % stores.length]!;
      const type: FeedEventType = i % 4 === 3 ? 'inventory.adjusted' : 'sale.recorded';
      const id = `e-${prefix}-${i}`;
      hub.erpFeed.take({ id, type, store, data: { n: n++, at: '2026-11-27T09:00:00Z' } });
      ids.push(id);
    }
  });
  return ids;
}

function relayOn(
  hub: Hub,
  exchange: string,
  url = RABBIT_URL,
  extra: Partial<ConstructorParameters<typeof AmqpRelay>[2]> = {},
): AmqpRelay {
  const relay = new AmqpRelay(hub.storage, hub.erpFeed, {
    url,
    exchange,
    log: silent,
    clock: hub.clock,
    pollMs: 100,
    backoff: { baseMs: 20, capMs: 300 },
    ...extra,
  });
  cleanups.push(() => relay.stop(2000));
  return relay;
}

/** A consumer of `exchange`, closed after the test, with a queue of each name of `bindings` bound by its pattern. */
async function consumerOf(exchange: string, bindings: Record<string, string> = {}): Promise<TestConsumer> {
  const c = await TestConsumer.open(exchange);
  cleanups.push(() => c.close());
  for (const [name, pattern] of Object.entries(bindings)) await c.bind(name, pattern);
  return c;
}

/** A test hub and a consumer of a new exchange (its queues bound as consumerOf does), both closed after the test. */
async function hubAndConsumer(
  bindings: Record<string, string> = {},
): Promise<{ hub: Hub; exchange: string; c: TestConsumer }> {
  const { hub, cleanup } = testHub();
  cleanups.push(cleanup);
  const exchange = randomName('tb-test');
  return { hub, exchange, c: await consumerOf(exchange, bindings) };
}

const counts = (ids: string[]): Map<string, number> => {
  const m = new Map<string, number>();
  for (const id of ids) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
};

describe('configuration', () => {
  it('a bad broker URL is a config error naming the option; the password never appears', () => {
    expect(() => amqpOptions('not a url', 'tillbridge.feed', {})).toThrow(
      expect.objectContaining({ code: 'TB_CONFIG', message: expect.stringContaining('--amqp-url') }),
    );
    expect(() => amqpOptions('http://u:sekrit@h', 'x', {})).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('sekrit') }),
    );
    expect(() => amqpOptions(undefined, 'x', { TILLBRIDGE_AMQP_URL: 'postgres://h' })).toThrow(
      expect.objectContaining({ message: expect.stringContaining('TILLBRIDGE_AMQP_URL') }),
    );
    expect(() => amqpOptions('amqp://h', 'bad name!', {})).toThrow(
      expect.objectContaining({ message: expect.stringContaining('--amqp-exchange') }),
    );
    expect(amqpOptions(undefined, 'tillbridge.feed', {})).toBeUndefined();
    expect(amqpOptions(undefined, 'ex', { TILLBRIDGE_AMQP_URL: 'amqp://u:p@h:5672/v' })).toEqual({
      url: 'amqp://u:p@h:5672/v',
      exchange: 'ex',
    });
    expect(checkAmqpUrl('amqp://guest:sekrit@h:5672/', '--amqp-url')).toBe('amqp://guest:***@h:5672/');
  });

  it('routing keys: <type>.<store or ->', () => {
    expect(routingKeyOf({ type: 'sale.recorded', store: 'S001' })).toBe('sale.recorded.S001');
    expect(routingKeyOf({ type: 'inventory.adjusted', store: null })).toBe('inventory.adjusted.-');
  });
});

describe.skipIf(!broker)('the relay against RabbitMQ', () => {
  it(
    'every entry arrives once, in position order, with the routing key, properties and headers; the cursor and ' +
      'metrics follow',
    async () => {
      const { hub, exchange, c } = await hubAndConsumer({ all: '#', sales: 'sale.recorded.*', s002: '#.S002' });
      const ids = append(hub, 'a', 700); // more than one batch of 500
      const relay = relayOn(hub, exchange);
      const metrics = new HubMetrics(hub);
      relay.onRelayed((k) => metrics.feedRelayed(k));
      relay.start();
      await until(() => c.ids('all').length >= 700, 15_000, 'all 700 entries');
      ids.push(...append(hub, 'b', 9)); // woken by the commit
      await until(() => c.ids('all').length >= 709, 5000, 'the 9 appended while running');
      await until(() => relay.status().lag === 0, 5000, 'the cursor to reach the head');

      expect(c.ids('all')).toEqual(ids); // once each, in position order
      const all = c.got.get('all')!;
      const positions = all.map((m) => m.properties.headers!['x-tillbridge-position'] as number);
      expect(positions).toEqual([...positions].sort((x, y) => x - y));
      const entries = hub.erpFeed.read(0, 1000).entries.concat(hub.erpFeed.read(1000, 1000).entries);
      expect(c.ids('sales')).toEqual(entries.filter((e) => e.type === 'sale.recorded').map((e) => e.id));
      expect(c.ids('s002')).toEqual(entries.filter((e) => e.store === 'S002').map((e) => e.id));
      const m = all[1]!;
      const e = entries[1]!;
      expect(m.fields.routingKey).toBe(`${e.type}.S002`);
      expect(m.properties).toMatchObject({
        messageId: e.id,
        type: e.type,
        contentType: 'application/json',
        deliveryMode: 2,
        timestamp: Math.floor(Date.parse(e.recordedAt) / 1000),
      });
      expect(m.properties.headers).toMatchObject({
        'x-tillbridge-position': e.position,
        'x-tillbridge-store': 'S002',
        'x-tillbridge-business-day': e.businessDay,
      });
      expect(JSON.parse(m.content.toString())).toEqual(e);
      expect(all[2]!.fields.routingKey).toBe(`${entries[2]!.type}.-`);

      const s = relay.status();
      expect(s).toMatchObject({
        exchange,
        consumer: `amqp:${exchange}`,
        relaying: true,
        connected: true,
        position: hub.erpFeed.head(),
        lag: 0,
        relayed: 709,
        broker: 'amqp://guest:***@127.0.0.1:5672',
      });
      expect(hub.erpFeed.consumer(`amqp:${exchange}`)?.position).toBe(hub.erpFeed.head());
      const text = await metrics.text();
      expect(text).toContain('tillbridge_feed_relayed_total 709');
      expect(text).toMatch(new RegExp(`tillbridge_feed_lag\\{consumer="amqp:${exchange.replace(/\./g, '\\.')}"\\} 0`));
    },
  );

  it('an unroutable batch (no queue bound) is not acknowledged: the cursor stays until a queue takes it', async () => {
    const { hub, exchange, c } = await hubAndConsumer();
    const ids = append(hub, 'u', 5);
    const relay = relayOn(hub, exchange);
    relay.start();
    await until(() => relay.status().lastError !== null, 5000, 'the unroutable return');
    expect(relay.status().lastError!.message).toContain('unroutable');
    expect(relay.status().position).toBe(0);
    await c.bind('all', '#');
    await until(() => relay.status().lag === 0, 5000, 'the batch relayed once a queue is bound');
    await until(() => new Set(c.ids('all')).size >= ids.length, 5000, 'the messages at the consumer');
    expect([...new Set(c.ids('all'))]).toEqual(ids);
  });

  it(
    'broker outage through a real TCP proxy: cut mid-stream, entries keep coming, restored → every id arrives; ' +
      'duplicates only from the batch in flight',
    async () => {
      const { hub, exchange, c } = await hubAndConsumer({ all: '#' });
      const proxy = new CuttableProxy();
      await proxy.start();
      cleanups.push(() => proxy.close());
      const relay = relayOn(hub, exchange, proxy.url, { batchSize: 50 });
      relay.start();
      const ids: string[] = [];
      for (let round = 0; round < 10; round++) ids.push(...append(hub, `p${round}`, 50));
      // mid-stream: some, not all, arrived
      await until(() => c.ids('all').length >= 100, 10_000, 'the stream to start');
      proxy.cut();
      const atCut = c.ids('all').length;
      await until(() => !relay.connected, 5000, 'the relay to see the cut');
      for (let round = 10; round < 20; round++) ids.push(...append(hub, `p${round}`, 50));
      await new Promise((r) => setTimeout(r, 500)); // refused while cut: it backs off and tries again
      expect(relay.status().lastError).not.toBeNull();
      expect(relay.status().lag).toBeGreaterThan(0);
      proxy.restore();
      await until(() => relay.status().lag === 0, 20_000, 'the relay to catch up after the outage');
      await new Promise((r) => setTimeout(r, 200));

      const got = counts(c.ids('all'));
      const missing = ids.filter((id) => !got.has(id));
      const duplicates = [...got.values()].filter((k) => k > 1).length;
      console.info(
        `outage: ${ids.length} entries, ${atCut} received before the cut, ${missing.length} missing, ` +
          `${duplicates} received twice (at most the batch of 50 in flight at the cut)`,
      );
      expect(missing).toEqual([]);
      expect(got.size).toBe(ids.length);
      expect(duplicates).toBeLessThanOrEqual(50);
      expect([...got.values()].every((k) => k <= 2)).toBe(true);
    },
  );

  it('stop waits for the batch in flight and gives the lease up', async () => {
    const { hub, exchange, c } = await hubAndConsumer({ all: '#' });
    append(hub, 's', 300);
    const relay = relayOn(hub, exchange, RABBIT_URL, { batchSize: 100 });
    relay.start();
    await until(() => c.ids('all').length >= 1, 5000, 'the first message');
    await relay.stop(5000);
    const s = relay.status();
    expect(s.connected).toBe(false);
    expect(s.lease).toBeNull();
    // whatever reached the queue is behind the cursor, or in the one batch that was confirmed as it stopped
    await until(() => c.ids('all').length >= s.position, 5000, 'the confirmed messages at the consumer');
    await new Promise((r) => setTimeout(r, 200));
    expect(c.ids('all').length).toBe(s.position);
  });
});

const engines = hubEngines('amqp-relay.test.ts');

for (const engine of engines) {
  describe.skipIf(!broker)(`two relays on one ${engine} database`, () => {
    it(
      'only the lease holder relays; ' + 'when it dies (its lease runs out) the other takes over from the cursor',
      async () => {
        const { a, b, clock } = twoHubProcesses(engine, cleanups);
        const exchange = randomName('tb-test');
        const c = await consumerOf(exchange, { all: '#' });
        const ra = relayOn(a, exchange, RABBIT_URL, { owner: 'relay-a', leaseMs: 10_000 });
        const rb = relayOn(b, exchange, RABBIT_URL, { owner: 'relay-b', leaseMs: 10_000 });
        ra.start();
        await until(() => ra.status().relaying, 5000, 'a to take the lease');
        rb.start();
        const ids = append(a, 'l1', 40);
        ids.push(...append(b, 'l2', 40));
        // the consumer can see the messages before a's broker confirms count them: wait for both
        await until(() => c.ids('all').length >= 80 && ra.relayed === 80, 10_000, 'the first 80');
        expect(ra.relayed).toBe(80);
        expect(rb.relayed).toBe(0);
        expect(rb.status()).toMatchObject({ relaying: false, connected: false, lease: { holder: 'relay-a' } });

        // a dies: its loop stops where it is, nothing given up (as a SIGKILL leaves it)
        (ra as unknown as { stopper: AbortController }).stopper.abort();
        (ra as unknown as { holding: boolean }).holding = false; // so that stop() later gives up nothing
        await new Promise((r) => setTimeout(r, 300));
        ids.push(...append(b, 'l3', 30));
        await new Promise((r) => setTimeout(r, 500));
        expect(rb.relayed).toBe(0); // the lease has not run out yet
        clock.advance(10_001);
        // the consumer can see the messages before b has moved its cursor past them: wait for both
        await until(() => c.ids('all').length >= 110 && rb.status().lag === 0, 10_000, 'b to take over');
        expect(rb.status()).toMatchObject({ relaying: true, lease: { holder: 'relay-b' }, lag: 0 });
        expect(rb.relayed).toBe(30);
        expect(c.ids('all')).toEqual(ids); // nothing twice, nothing missing, in order
      },
    );
  });
}
