import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { returnCommands } from '../src/cli/commands/returns.js';
import { EMPTY_TICKET } from '../src/domain/return-ticket.js';
import type { ReturnRow } from '../src/domain/returns-repo.js';
import { listReturns } from '../src/http/contract/returns.js';
import { startAdminServer, getJson } from './admin-server.js';
import { runCli } from './cli-run.js';
import { testHub } from './helpers.js';

// GET /v1/admin/returns in pages (keyset cursor, lines fetched per page), through the repository,
// over real HTTP, and through `tillbridge-hub returns list`. Either backend (TILLBRIDGE_TEST_BACKEND).

let t: ReturnType<typeof testHub>;
let server: Awaited<ReturnType<typeof startAdminServer>>;

/** A ticket created `minute` minutes after 10:00 at `store`; two share each minute (the id breaks the tie). */
function ticket(n: number, store: string): ReturnRow {
  const minute = String(Math.floor(n / 2)).padStart(2, '0');
  return {
    ...EMPTY_TICKET,
    authorization: `auth-${String(n).padStart(4, '0')}`,
    store,
    register: 'R1',
    request_id: `q-${n}`,
    receipt: `X${n}`,
    mode: 'online',
    decision: 'approved',
    status: 'completed',
    refund_amount: 100 * n,
    refund_kind: 'cash',
    gross_refund: null,
    policy_version: 1,
    created_at: `2026-11-27T10:${minute}:00.000Z`,
    updated_at: '2026-11-27T11:00:00.000Z',
  };
}

const line = (n: number, qty: number) => ({
  line: n,
  asked_sku: null,
  requested_qty: qty * 1000,
  approved_qty: qty * 1000,
  completed_qty: 0,
  disposition: 'restock' as const,
  code: 'OK',
  reason: null,
});

const TICKETS = 7;

beforeAll(async () => {
  t = testHub();
  t.hub.storage.tx(() => {
    // inserted out of order: pages follow creation time, then id
    for (const n of [4, 0, 6, 2, 1, 5, 3]) {
      t.hub.returnsRepo.insert(ticket(n, n % 3 === 0 ? 'S2' : 'S1'), n === 3 ? [] : [line(2, n), line(1, 1)]);
    }
  });
  server = await startAdminServer(t.hub);
});

afterAll(async () => {
  await server.close();
  t.cleanup();
});

describe('ReturnsRepo.page', () => {
  it('pages through every ticket in creation order, each with its lines in line order', () => {
    const seen: string[] = [];
    let after: { createdAt: string; authorization: string } | undefined;
    let pages = 0;
    do {
      const page = t.hub.returnsRepo.page({ after, limit: 3 });
      for (const { ticket: row, lines } of page.tickets) {
        seen.push(row.authorization);
        const n = Number(row.authorization.slice(5));
        expect(lines.map((l) => [l.line, l.approved_qty])).toEqual(
          n === 3
            ? []
            : [
                [1, 1000],
                [2, n * 1000],
              ],
        );
      }
      after = page.next;
      pages++;
    } while (after !== undefined);
    expect(pages).toBe(3);
    expect(seen).toEqual(Array.from({ length: TICKETS }, (_, n) => `auth-000${n}`));
  });

  it('filters by store, and a page that ends on the last ticket has no next', () => {
    const page = t.hub.returnsRepo.page({ store: 'S2', limit: 3 });
    expect(page.tickets.map((p) => p.ticket.authorization)).toEqual(['auth-0000', 'auth-0003', 'auth-0006']);
    expect(page.next).toBeUndefined();
    expect(t.hub.returnsRepo.page({ store: 'NONE', limit: 3 })).toEqual({ tickets: [], next: undefined });
  });
});

describe('GET /v1/admin/returns', () => {
  it('answers pages the contract describes, with an opaque next cursor', async () => {
    const first = await getJson(server.url, server.operator, '/v1/admin/returns?limit=4');
    expect(first.status).toBe(200);
    const page = listReturns.response.parse(first.body);
    expect(page).toEqual(first.body);
    expect(page.returns.map((r) => r.authorization)).toEqual(['auth-0000', 'auth-0001', 'auth-0002', 'auth-0003']);
    expect(page.returns[1]!.lines).toEqual([
      { line: 1, sku: null, requested: 1, approved: 1, completed: 0, disposition: 'restock', code: 'OK', reason: null },
      { line: 2, sku: null, requested: 1, approved: 1, completed: 0, disposition: 'restock', code: 'OK', reason: null },
    ]);
    expect(page.next).toEqual(expect.any(String));
    const second = await getJson(server.url, server.operator, `/v1/admin/returns?limit=4&after=${page.next}`);
    const rest = listReturns.response.parse(second.body);
    expect(rest.returns.map((r) => r.authorization)).toEqual(['auth-0004', 'auth-0005', 'auth-0006']);
    expect(rest.next).toBeNull();
  });

  it('takes 100 tickets when no limit is named', async () => {
    const all = listReturns.response.parse(
      (await getJson(server.url, server.operator, '/v1/admin/returns?store=S1')).body,
    );
    expect(all.returns.map((r) => r.authorization)).toEqual(['auth-0001', 'auth-0002', 'auth-0004', 'auth-0005']);
    expect(all.next).toBeNull();
  });

  it.each([
    ['limit=0', 'limit: expected at least 1, got 0'],
    ['limit=1001', 'limit: expected at most 1000, got 1001'],
    ['limit=two', 'limit: expected number, got a value that is not a number'],
    ['limit=1.5', 'limit: expected an integer, got number'],
    ['after=not-a-cursor', 'after: expected the "next" of a page of returns'],
  ])('refuses ?%s with 400 and the error shape', async (query, message) => {
    const r = await getJson(server.url, server.operator, `/v1/admin/returns?${query}`);
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ code: 'TB_INVALID', message });
  });
});

describe('tillbridge-hub returns list', () => {
  const cli = (...args: string[]) =>
    runCli((ctx) => returnCommands(ctx), server.url, server.operator, ['returns', 'list', ...args]);

  it('prints one page with --limit, and how to ask for the next; --after continues', async () => {
    const first = await cli('--limit', '5');
    expect(first.code).toBe(0);
    const lines = first.stdout.trim().split('\n');
    expect(lines).toHaveLength(7);
    expect(lines[5]).toMatch(/^auth-0004\s+S1\s+X4\s+online\s+approved\s+completed\s+2026-11-27T10:02:00.000Z$/);
    const cursor = /^more: tillbridge-hub returns list --limit 5 --after (\S+)$/.exec(lines[6]!)?.[1];
    expect(cursor).toBeDefined();
    const next = await cli('--limit', '5', '--after', cursor!, '--json');
    const page = JSON.parse(next.stdout) as { returns: { authorization: string }[]; next: string | null };
    expect(page.returns.map((r) => r.authorization)).toEqual(['auth-0005', 'auth-0006']);
    expect(page.next).toBeNull();
  });

  it('follows every page without --limit', async () => {
    // more tickets than the largest page: the CLI asks twice
    t.hub.storage.tx(() => {
      for (let n = 100; n < 1101; n++)
        t.hub.returnsRepo.insert({ ...ticket(n, 'S3'), created_at: '2026-11-28T09:00:00.000Z' }, []);
    });
    const r = await cli('--store', 'S3', '--json');
    expect(r.code).toBe(0);
    const page = JSON.parse(r.stdout) as { returns: { authorization: string }[]; next: string | null };
    expect(page.returns).toHaveLength(1001);
    expect(page.next).toBeNull();
  });

  it('refuses a --limit out of range as a usage error', async () => {
    const r = await cli('--limit', '0');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--limit: expected a whole number from 1 to 1000, got "0"');
  });
});
