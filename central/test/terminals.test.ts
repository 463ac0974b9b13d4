import { describe, expect, it } from 'vitest';
import type { TerminalStatus } from '@tillbridge/shared';
import { hubForEachTest, column, scalar } from './helpers.js';
import { connectedScanner } from '../../test/support/terminals.js';

const t = hubForEachTest({ S1: 'S1' });

const status = (state: TerminalStatus['state'], at: string, connections = 0): TerminalStatus => ({
  register: 'R1',
  state,
  transport: 'tcp://127.0.0.1:9100',
  connections,
  at,
});
const messages = (): number => scalar(t.hub.storage.db, `SELECT COUNT(*) FROM webhook_messages`) as number;

describe('terminal status at the hub', () => {
  it(
    'holds a report nobody is owed as a deferred write, shown at once and written by the next batch; ignores an ' +
      'older one',
    async () => {
      const { hub } = t;
      const before = hub.storage.commits();
      expect(hub.terminals.record('S1', status('listening', '2026-11-27T10:00:00.000Z'))).toBe(true);
      expect(hub.terminals.record('S1', status('connected', '2026-11-27T10:00:02.000Z', 1))).toBe(true);
      // older than the one held
      expect(hub.terminals.record('S1', status('listening', '2026-11-27T10:00:01.000Z'))).toBe(false);
      expect(hub.storage.commits()).toEqual(before);
      expect(hub.terminals.list('S1')).toMatchObject([{ register: 'R1', state: 'connected', connections: 1 }]);
      await hub.storage.deferred.flush();
      expect(hub.storage.commits()).toEqual({ full: before.full, normal: before.normal + 1 });
      expect(column(hub.storage.db, `SELECT state FROM terminals`)).toEqual(['connected']);
      expect(hub.terminals.list()).toMatchObject([{ store: 'S1', register: 'R1', state: 'connected' }]);
    },
  );

  it(
    'commits a change announced to a webhook with its message, synced: a delivery is owed; the same state again is ' +
      'deferred',
    () => {
      const { hub } = t;
      hub.webhooks.add({ url: 'https://example.test/hook', events: ['terminal.status'], store: 'S1' }, 'admin:test');
      let before = hub.storage.commits();
      hub.terminals.record('S1', status('listening', '2026-11-27T10:00:00.000Z'));
      expect(hub.storage.commits()).toEqual({ full: before.full + 1, normal: before.normal });
      expect(messages()).toBe(1);
      expect(column(hub.storage.db, `SELECT state FROM terminals`)).toEqual(['listening']);
      // reported again on a reconnection, unchanged: nothing announced, nothing synced
      before = hub.storage.commits();
      hub.terminals.record('S1', status('listening', '2026-11-27T10:05:00.000Z'));
      expect(hub.storage.commits()).toEqual(before);
      expect(messages()).toBe(1);
      // a change after a deferred report is compared with what is held, and announced
      hub.terminals.record('S1', status('error', '2026-11-27T10:06:00.000Z'));
      expect(hub.storage.commits()).toEqual({ full: before.full + 1, normal: before.normal });
      expect(messages()).toBe(2);
      expect(hub.storage.deferred.waiting).toBe(0); // the synced write replaced the one waiting
      expect(hub.terminals.list('S1')).toMatchObject([{ state: 'error', at: '2026-11-27T10:06:00.000Z' }]);
    },
  );

  it(
    'keeps what a protocol-5 agent says of each terminal (a scanner, the register it feeds, codecs), written and ' +
      'announced; a register an older agent reports has none of it',
    async () => {
      const { hub } = t;
      hub.webhooks.add({ url: 'https://example.test/hook', events: ['terminal.status'], store: 'S1' }, 'admin:test');
      const at = '2026-11-27T10:00:00.000Z';
      hub.terminals.record('S1', { ...status('connected', at, 1), codec: 'fixed:acme' });
      hub.terminals.record('S1', {
        register: 'SC1',
        kind: 'scanner',
        codec: 'hid-pos',
        feeds: 'R1',
        state: 'disconnected',
        detail: 'device unplugged',
        transport: 'hid://05e0:1200@/dev/hidraw3',
        connections: 0,
        lastMessageAt: '2026-11-27T09:59:00.000Z',
        at,
      });
      hub.terminals.record('S1', { ...status('listening', at), register: 'R2' });
      await hub.storage.deferred.flush();
      expect(
        hub.storage.db.prepare(`SELECT register, kind, codec, feeds, state FROM terminals ORDER BY register`).all(),
      ).toEqual([
        { register: 'R1', kind: null, codec: 'fixed:acme', feeds: null, state: 'connected' },
        { register: 'R2', kind: null, codec: null, feeds: null, state: 'listening' },
        { register: 'SC1', kind: 'scanner', codec: 'hid-pos', feeds: 'R1', state: 'disconnected' },
      ]);
      const announced = column(hub.storage.db, `SELECT body FROM webhook_messages ORDER BY created_at, id`).map(
        (p) => (JSON.parse(p as string) as { data: Record<string, unknown> }).data,
      );
      expect(announced.find((d) => d.register === 'SC1')).toMatchObject({
        kind: 'scanner',
        codec: 'hid-pos',
        feeds: 'R1',
        state: 'disconnected',
      });
      expect(announced.find((d) => d.register === 'R2')).not.toHaveProperty('kind');
    },
  );

  it("tells its listeners of a scanner's each scan, not of each message of a register", () => {
    const { hub } = t;
    const heard: string[] = [];
    hub.terminals.onChange((store) => heard.push(store));
    hub.terminals.record('S1', { ...status('connected', '2026-11-27T10:00:00.000Z', 1), codec: 'jsonl' });
    hub.terminals.record('S1', connectedScanner('2026-11-27T10:00:00.000Z'));
    expect(heard).toHaveLength(2);
    hub.terminals.record('S1', {
      ...status('connected', '2026-11-27T10:00:05.000Z', 1),
      lastMessageAt: '2026-11-27T10:00:05.000Z',
    });
    expect(heard).toHaveLength(2); // a register's message: its time is kept, not told
    hub.terminals.record('S1', connectedScanner('2026-11-27T10:00:06.000Z'));
    expect(heard).toHaveLength(3);
    expect(hub.terminals.list('S1').find((x) => x.register === 'SC1')?.last_message_at).toBe(
      '2026-11-27T10:00:06.000Z',
    );
  });
});
