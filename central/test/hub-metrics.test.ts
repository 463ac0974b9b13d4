import { afterEach, describe, expect, it } from 'vitest';
import { HubMetrics } from '../src/metrics/hub-metrics.js';
import { testHub, wireDayClose } from './helpers.js';

/** One sample line of a metric without labels, or undefined when the metric reports no value. */
const sample = (text: string, name: string): string | undefined => new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1];

describe('hub metrics', () => {
  let t: ReturnType<typeof testHub> | undefined;
  afterEach(() => t?.cleanup());

  it('the authorization ratios report no value until there was a return request, then the share', async () => {
    t = testHub();
    const m = new HubMetrics(t.hub);
    const quiet = await m.text();
    // declared (HELP/TYPE), but no sample: an alert on "< 0.95" has nothing to fire on
    expect(quiet).toMatch(/^# TYPE tillbridge_return_authorization_success_ratio gauge$/m);
    expect(sample(quiet, 'tillbridge_return_authorization_success_ratio')).toBeUndefined();
    expect(sample(quiet, 'tillbridge_return_authorization_online_ratio')).toBeUndefined();
    // counts that are really zero are still reported
    expect(sample(quiet, 'tillbridge_connected_stores')).toBe('0');

    // an agent reports a request it could not answer: one request, none answered in time
    t.hub.stores.create('S1', 'S1');
    t.hub.authzStats.report('S1', 'agent-1', {
      since: '2026-11-27T09:00:00Z',
      online: {},
      offline: {},
      lateOnline: 0,
      failed: 1,
    });
    const busy = await m.text();
    expect(sample(busy, 'tillbridge_return_authorization_success_ratio')).toBe('0');
    expect(sample(busy, 'tillbridge_return_authorization_online_ratio')).toBe('0');
  });

  it("reports each connected store's outbox as its agent last said, and none for a store not connected", async () => {
    t = testHub();
    const m = new HubMetrics(t.hub);
    t.hub.stores.create('S1', 'S1');
    t.hub.stores.create('S2', 'S2');
    const now = t.clock.now();
    t.hub.presence.connected('S1', 'agent-1', now);
    t.hub.presence.heartbeat('S1', { t: 'heartbeat', outboxDepth: 3, oldestAgeMs: 1500, registers: [] }, now);
    t.hub.presence.heartbeat('S2', { t: 'heartbeat', outboxDepth: 7, oldestAgeMs: 9000, registers: [] }, now);
    const text = await m.text();
    expect(text).toMatch(/^tillbridge_outbox_depth\{store="S1"\} 3$/m);
    expect(text).toMatch(/^tillbridge_outbox_oldest_age_seconds\{store="S1"\} 1.5$/m);
    expect(text).not.toMatch(/store="S2"/);
    expect(sample(text, 'tillbridge_connected_stores')).toBe('1');
    t.hub.presence.disconnected('S1', now);
    expect(await m.text()).not.toMatch(/^tillbridge_outbox_depth\{/m);
  });

  it('counts the database commits, synced and not, and what waits for the next batch', async () => {
    t = testHub();
    const m = new HubMetrics(t.hub);
    const commits = (text: string, sync: string): number =>
      Number(new RegExp(`^tillbridge_hub_db_commits_total\\{sync="${sync}"\\} (\\S+)$`, 'm').exec(text)?.[1]);
    const before = await m.text();
    t.hub.storage.tx(() => t!.hub.stores.create('S1', 'S1'));
    t.hub.stores.touch('S1', t.clock.now());
    const held = await m.text();
    expect(commits(held, 'full')).toBe(commits(before, 'full') + 1);
    expect(sample(held, 'tillbridge_hub_deferred_writes_waiting')).toBe('1');
    await t.hub.storage.deferred.flush();
    const written = await m.text();
    expect(commits(written, 'full')).toBe(commits(before, 'full') + 1);
    expect(commits(written, 'normal')).toBe(commits(before, 'normal') + 1);
    expect(sample(written, 'tillbridge_hub_deferred_writes_waiting')).toBe('0');
  });

  it(
    'counts register days by outcome and times each from ' + "its close to the hub's outcome (the hub's clock)",
    async () => {
      t = testHub();
      const m = new HubMetrics(t.hub);
      t.hub.registerDays.onOutcome((o) => m.dayReconciled(o.status, o.closedAt, o.at)); // as startHub wires it
      t.hub.stores.create('S1', 'S1');
      const close = (seq: number, register: string, card: number) =>
        wireDayClose(
          seq,
          `d-${register}`,
          {
            requestId: `m-${register}`,
            closedAt: '2026-11-27T09:00:00Z',
            tenders: [{ kind: 'card', amount: card }],
          },
          { register },
        );
      // the clock stands at 10:00: an hour after the close
      t.hub.applier.applyBatch('S1', 'agent-1', 'i1', [close(1, 'R1', 0), close(2, 'R2', 100)]);
      const text = await m.text();
      expect(text).toMatch(/^tillbridge_register_days_reconciled_total\{status="matched"\} 1$/m);
      expect(text).toMatch(/^tillbridge_register_days_reconciled_total\{status="discrepancy"\} 1$/m);
      expect(text).toMatch(/^tillbridge_day_close_to_reconciled_seconds_sum\{status="matched"\} 3600$/m);
      expect(text).toMatch(/^tillbridge_day_close_to_reconciled_seconds_count\{status="discrepancy"\} 1$/m);
    },
  );
});
