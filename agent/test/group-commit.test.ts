import { readdirSync, readlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, TbCodes, type RegisterReply } from '@tillbridge/shared';
import { agentDbPath, type Db } from '../src/db/agent-db.js';
import type { StoreCore } from '../src/core/store-core.js';
import type { GroupCommitOptions } from '../src/core/group-commit.js';
import { StorageHealth } from '../src/db/storage-health.js';
import { JsonlCodec } from '../src/gateway/codecs/jsonl.js';
import type { RegisterEndpoint } from '../src/gateway/register-endpoint.js';
import { closeTempDb, offlineHub, openTempStore, type TempStore } from './support/temp-store.js';
import { startTcpLineEndpoint } from './tcp-lines.js';
import { cashSale } from './support/register-messages.js';

/**
 * Group commit at the agent (core/group-commit.ts), on a real agent database: the messages handled in
 * one turn of the event loop are written in ONE transaction, each answered only once it committed, in
 * arrival order; a failing group answers none of them with an ack.
 */
const log = createLogger({ name: 'test', level: 'silent' });
const NOW = Date.parse('2026-11-28T10:00:00Z');

const sale = (id: string, receipt: string) => cashSale(id, receipt, '2026-11-27T10:00:00Z', 1, 1000);

let store: TempStore | undefined;
let reader: Database.Database | undefined;
const endpoints: RegisterEndpoint[] = [];
const sockets: Socket[] = [];

/** The seam's calls: the size of each group, at the moment it was about to commit. */
let groups: number[];
/** Set by a test: runs inside each group's transaction, before COMMIT; throwing fails the group. */
let hook: ((n: number) => void) | undefined;
let health: StorageHealth;

function open(opts: GroupCommitOptions = {}): TempStore {
  groups = [];
  hook = undefined;
  health = new StorageHealth();
  store = openTempStore('tb-group-', offlineHub, log, {
    now: () => NOW,
    over: () => ({
      storage: health,
      groupCommit: {
        ...opts,
        beforeCommit: (n) => {
          groups.push(n);
          hook?.(n);
        },
      },
    }),
  });
  // a second connection to the same file: it sees only what was committed
  reader = new Database(agentDbPath(store.dir), { readonly: true });
  return store;
}

const count = (db: Db, table: string): number =>
  (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;

/** Handles each message (register, message) in this turn, recording the order the answers came in. */
function handleAll(core: StoreCore, msgs: [string, ReturnType<typeof sale>][], answered: string[]) {
  return msgs.map(([register, msg]) =>
    core.handle(register, msg).then(
      (reply) => {
        answered.push(`${register}/${msg.id}`);
        return reply;
      },
      (err: unknown) => {
        answered.push(`${register}/${msg.id}!`);
        throw err;
      },
    ),
  );
}

beforeEach(() => {
  store = undefined;
});
afterEach(async () => {
  sockets.splice(0).forEach((s) => s.destroy());
  await Promise.all(endpoints.splice(0).map((e) => e.stop()));
  reader?.close();
  reader = undefined;
  if (store) closeTempDb(store);
});

describe('group commit at the agent', () => {
  it('writes the messages of one turn in one transaction, each acknowledged only after COMMIT, in order', async () => {
    const { core, outbox } = open();
    const answered: string[] = [];
    const seenInside: { committed: number; answered: number }[] = [];
    hook = () => seenInside.push({ committed: count(reader!, 'outbox'), answered: answered.length });
    const msgs: [string, ReturnType<typeof sale>][] = [
      ['R1', sale('a1', 'X1')],
      ['R2', sale('b1', 'X2')],
      ['R3', sale('c1', 'X3')],
      ['R1', sale('a2', 'X4')],
      ['R4', sale('d1', 'X5')],
      ['R2', sale('b2', 'X6')],
    ];
    const replies = await Promise.all(handleAll(core, msgs, answered));
    expect(replies).toEqual(msgs.map(([, m]) => ({ type: 'ack', id: m.id })));
    // one transaction for the six, and while it was open nobody else saw any of it nor any answer
    expect(groups).toEqual([6]);
    expect(seenInside).toEqual([{ committed: 0, answered: 0 }]);
    // all of it committed and visible to another connection, in arrival order
    expect(count(reader!, 'outbox')).toBe(6);
    expect(count(reader!, 'replies')).toBe(6);
    expect(outbox.after(0, 10).map((r) => `${r.register}/${JSON.parse(r.body).requestId as string}`)).toEqual(
      msgs.map(([r, m]) => `${r}/${m.id}`),
    );
    expect(answered).toEqual(msgs.map(([r, m]) => `${r}/${m.id}`));
    // a lone message later is a group of one
    expect(await core.handle('R1', sale('a3', 'X7'))).toEqual({ type: 'ack', id: 'a3' });
    expect(groups).toEqual([6, 1]);
  });

  it('splits a large queue at maxMessages, keeping each register’s order across the commits', async () => {
    const { core, outbox } = open({ maxMessages: 4 });
    const msgs: [string, ReturnType<typeof sale>][] = Array.from({ length: 10 }, (_, i) => [
      `R${(i % 3) + 1}`,
      sale(`m${i}`, `Y${i}`),
    ]);
    const answered: string[] = [];
    await Promise.all(handleAll(core, msgs, answered));
    expect(groups).toEqual([4, 4, 2]);
    expect(answered).toEqual(msgs.map(([r, m]) => `${r}/${m.id}`));
    expect(outbox.after(0, 20).map((r) => JSON.parse(r.body).requestId as string)).toEqual(msgs.map(([, m]) => m.id));
  });

  it.runIf(process.platform === 'linux')(
    "keeps a large group's savepoints in memory: no temporary file is open while the group is written",
    async () => {
      const { core } = open();
      // the files this process holds open that were deleted at once: SQLite's temporary files (a sub-journal)
      const deletedOpen = (): string[] =>
        readdirSync('/proc/self/fd').flatMap((fd) => {
          try {
            const target = readlinkSync(`/proc/self/fd/${fd}`);
            return target.endsWith(' (deleted)') ? [target] : [];
          } catch {
            return []; // closed since the listing
          }
        });
      const before = deletedOpen();
      const inside: string[][] = [];
      hook = () => inside.push(deletedOpen().filter((f) => !before.includes(f)));
      // each message's savepoint journals the pages it changes; past 64 KiB SQLite spills them to a file
      const msgs: [string, ReturnType<typeof sale>][] = Array.from({ length: 200 }, (_, i) => [
        `R${(i % 8) + 1}`,
        sale(`t${i}`, `T${i}`),
      ]);
      await Promise.all(handleAll(core, msgs, []));
      expect(groups).toEqual([200]);
      expect(inside).toEqual([[]]);
    },
  );

  it('answers a refused message with its own error; its neighbours in the group commit and are acked', async () => {
    const { core, outbox } = open();
    const answers = await Promise.all([
      core.handle('R1', sale('a1', 'X1')),
      core.handle('R2', { type: 'return.cancel', id: 'bad', authorization: 'never-issued' }),
      core.handle('R3', sale('c1', 'X3')),
    ]);
    expect(groups).toEqual([3]);
    expect(answers[0]).toEqual({ type: 'ack', id: 'a1' });
    expect(answers[1]).toMatchObject({ type: 'error', id: 'bad', code: TbCodes.UNKNOWN_AUTHORIZATION });
    expect(answers[2]).toEqual({ type: 'ack', id: 'c1' });
    expect(outbox.after(0, 10).map((r) => r.kind)).toEqual(['sale', 'sale']);
    // the refusal was not recorded as an answer: the register may send a corrected message under that id
    expect(count(reader!, 'replies')).toBe(2);
  });

  it('acknowledges none of a group whose transaction fails, writes none of it, and commits the next one', async () => {
    const { core, db } = open();
    hook = () => {
      throw new Error('the commit failed');
    };
    const answered: string[] = [];
    const failed = await Promise.allSettled(
      handleAll(
        core,
        [
          ['R1', sale('a1', 'X1')],
          ['R2', sale('b1', 'X2')],
          ['R3', sale('c1', 'X3')],
        ],
        answered,
      ),
    );
    expect(failed.map((f) => f.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(answered).toEqual(['R1/a1!', 'R2/b1!', 'R3/c1!']);
    for (const table of ['outbox', 'replies', 'receipts', 'journal']) expect(count(db, table)).toBe(0);
    expect(db.inTransaction).toBe(false);
    // the registers send them again: acknowledged, once each
    hook = undefined;
    const again = await Promise.all([
      core.handle('R1', sale('a1', 'X1')),
      core.handle('R2', sale('b1', 'X2')),
      core.handle('R3', sale('c1', 'X3')),
    ]);
    expect(again.map((r) => r.type)).toEqual(['ack', 'ack', 'ack']);
    expect(groups).toEqual([3, 3]);
    expect(count(reader!, 'outbox')).toBe(3);
  });

  it('on a full disk acks none of the group (TB_STORAGE_FULL each), and all of it once space returns', async () => {
    const { core, db } = open();
    // SQLite's max_page_count at the file's size: every write that needs a new page fails with SQLITE_FULL
    db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
    const big = (id: string, receipt: string) => ({
      ...sale(id, receipt),
      lines: Array.from({ length: 40 }, (_, i) => ({
        line: i + 1,
        sku: `SKU-${'x'.repeat(80)}-${i}`,
        qty: 1,
        unitPrice: 1,
      })),
    });
    const answers = await Promise.all([
      core.handle('R1', big('a1', 'X1')),
      core.handle('R2', big('b1', 'X2')),
      core.handle('R3', big('c1', 'X3')),
    ]);
    expect(answers.map((a) => (a.type === 'error' ? a.code : a.type))).toEqual([
      TbCodes.STORAGE_FULL,
      TbCodes.STORAGE_FULL,
      TbCodes.STORAGE_FULL,
    ]);
    for (const table of ['outbox', 'replies', 'receipts']) expect(count(db, table)).toBe(0);
    expect(health.view().failing).toEqual(['register messages']);
    db.pragma('max_page_count = 1073741823');
    const again = await Promise.all([
      core.handle('R1', big('a1', 'X1')),
      core.handle('R2', big('b1', 'X2')),
      core.handle('R3', big('c1', 'X3')),
    ]);
    expect(again.map((r) => r.type)).toEqual(['ack', 'ack', 'ack']);
    expect(count(reader!, 'outbox')).toBe(3);
    expect(health.view().failing).toEqual([]);
  });

  it('decides a return request without waiting for the sales queued before it', async () => {
    const { core } = open({ maxMessages: 2 });
    const answered: string[] = [];
    const sales = handleAll(
      core,
      Array.from({ length: 6 }, (_, i): [string, ReturnType<typeof sale>] => ['R1', sale(`s${i}`, `Z${i}`)]),
      answered,
    );
    await core.handle('R2', {
      type: 'return.request',
      id: 'r1',
      receipt: 'Z0',
      lines: [{ line: 1, qty: 1, disposition: 'restock' }],
    });
    // decided (offline: the hub is down) while the sales still wait for their commits
    expect(groups.length).toBeLessThan(3);
    expect(answered.length).toBeLessThan(6);
    await Promise.all(sales);
    expect(groups).toEqual([2, 2, 2]);
  });

  it('over TCP: registers at once get no ack from a failed group, and the same connections work after', async () => {
    const { core, db } = open();
    const { endpoint, port } = await startTcpLineEndpoint('R1', new JsonlCodec(), core, log, { maxConnections: 4 });
    endpoints.push(endpoint);
    const regs = await Promise.all([0, 1, 2, 3].map(() => lineClient(port)));
    hook = () => {
      throw new Error('the commit failed');
    };
    const first = await Promise.all(regs.map((r, i) => r.send(sale(`t${i}`, `T${i}`))));
    for (const [i, reply] of first.entries())
      expect(reply).toMatchObject({ type: 'error', id: `t${i}`, code: TbCodes.INTERNAL });
    expect(count(db, 'outbox')).toBe(0);
    hook = undefined;
    const second = await Promise.all(regs.map((r, i) => r.send(sale(`t${i}`, `T${i}`))));
    expect(second).toEqual([0, 1, 2, 3].map((i) => ({ type: 'ack', id: `t${i}` })));
    expect(count(reader!, 'outbox')).toBe(4);
    // every group failed or committed whole: the rows committed are exactly the acks given
    expect(count(reader!, 'replies')).toBe(4);
  });
});

/** A register on a kept TCP connection: one JSON line out, the next reply line back. */
function lineClient(port: number): Promise<{ send: (msg: unknown) => Promise<RegisterReply> }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    sockets.push(sock);
    let held = '';
    const waiting: ((reply: RegisterReply) => void)[] = [];
    sock.on('data', (d) => {
      held += d.toString('utf8');
      let i: number;
      while ((i = held.indexOf('\n')) !== -1) {
        const line = held.slice(0, i);
        held = held.slice(i + 1);
        waiting.shift()?.(JSON.parse(line) as RegisterReply);
      }
    });
    sock.once('error', reject);
    sock.once('connect', () =>
      resolve({
        send: (msg) =>
          new Promise((res) => {
            waiting.push(res);
            sock.write(`${JSON.stringify(msg)}\n`);
          }),
      }),
    );
  });
}
