import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WireEvent } from '@tillbridge/shared';
import { reconcileCommands } from '../src/cli/commands/reconcile.js';
import { adminRoutes } from '../src/http/admin-api.js';
import { Router } from '../src/http/router.js';
import { testHub, wireDayClose } from './helpers.js';
import { runCli } from './cli-run.js';

// `tillbridge-hub reconcile`, in-process, through the admin API on a real HTTP server, on a real hub database.

let t: ReturnType<typeof testHub>;
let api: Server;
let apiUrl: string;
let operator: string;

const DAY = '2026-11-27';
let seq = 0;
const sale = (register: string, receipt: string, amount: number): WireEvent => ({
  seq: ++seq,
  id: `e-${receipt}`,
  kind: 'sale',
  register,
  at: '2026-11-27T10:00:00Z',
  body: {
    requestId: `m-${receipt}`,
    receipt,
    at: '2026-11-27T10:00:00Z',
    currency: 'EUR',
    lines: [{ line: 1, sku: 'A', qty: 1, unitPrice: amount }],
    tenders: [{ kind: 'card', amount }],
  },
});
const close = (register: string, receipts: string[], amount: number, card: number): WireEvent =>
  wireDayClose(
    ++seq,
    `d-${register}`,
    {
      source: register === 'R2' ? 'agent' : 'register',
      currency: 'EUR',
      sales: { count: receipts.length, amount },
      tenders: [{ kind: 'card', amount: card }],
      receipts,
    },
    { register },
  );

beforeAll(async () => {
  t = testHub();
  t.hub.stores.create('S1', 'Main Street');
  t.hub.applier.applyBatch('S1', 'agent-1', 'i1', [
    sale('R1', 'X1', 1000),
    sale('R2', 'Y1', 500),
    close('R1', ['X1'], 1000, 1000),
    close('R2', ['Y1'], 500, 450),
  ]);
  operator = t.hub.credentials.createAdminToken('operator', 'night shift').secret;
  const router = new Router();
  adminRoutes(router, { ...t.hub.useCases, queries: t.hub.queries });
  api = createServer((req, res) => void router.handle(req, res));
  await new Promise<void>((ok) => api.listen(0, '127.0.0.1', ok));
  apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
});

afterAll(async () => {
  api.closeAllConnections();
  await new Promise((ok) => api.close(ok));
  t.cleanup();
});

/** Runs `tillbridge-hub reconcile …` as the CLI does; returns what it printed and its exit code. */
const cli = (...args: string[]) => runCli((ctx) => reconcileCommands(ctx), apiUrl, operator, ['reconcile', ...args]);

describe('tillbridge-hub reconcile', () => {
  it('lists every register of the day with its status, totals reported and recorded, and what differs', async () => {
    const r = await cli('--day', DAY);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('business day 2026-11-27: 2 register(s) closed — 1 matched, 0 resending, 1 discrepancy');
    expect(lines[1]).toMatch(/^STORE\s+REGISTER\s+SOURCE\s+STATUS/);
    expect(lines[2]).toMatch(/^S1\s+R1\s+register\s+matched\s+1 · 10\.00 EUR \/ 1 · 10\.00 EUR/);
    expect(lines[3]).toMatch(/^S1\s+R2\s+agent\s+!! discrepancy\s+1 · 5\.00 EUR \/ 1 · 5\.00 EUR/);
    expect(lines[3]).toContain('tender card 4.50 EUR vs hub 5.00 EUR');
  });

  it('prints JSON, by store', async () => {
    const r = await cli('--day', DAY, '--store', 'S1', '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as {
      summary: unknown;
      registers: { register: string; status: string; differences: unknown; exception: unknown }[];
    };
    expect(out.summary).toEqual({ registers: 2, matched: 1, resending: 0, discrepancy: 1 });
    expect(out.registers.map((x) => [x.register, x.status])).toEqual([
      ['R1', 'matched'],
      ['R2', 'discrepancy'],
    ]);
    expect(out.registers[1]!.differences).toMatchObject({ totals: [{ what: 'tender card', register: 450, hub: 500 }] });
    expect(out.registers[1]!.exception).toMatchObject({ resolved: false });
  });

  it('--check exits 1 when a register is not matched, 0 on a day with nothing open', async () => {
    expect((await cli('--day', DAY, '--check')).code).toBe(1);
    const empty = await cli('--day', '2026-11-26', '--check');
    expect(empty).toMatchObject({
      code: 0,
      stdout: 'business day 2026-11-26: 0 register(s) closed — 0 matched, 0 resending, 0 discrepancy\n',
    });
  });

  it('refuses a day that is not one, naming the option, and an unknown store', async () => {
    const bad = await cli('--day', '2026-02-30');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('day: expected a business day YYYY-MM-DD, got "2026-02-30"');
    const none = await cli('--day', DAY, '--store', 'NOPE');
    expect(none.code).toBe(3);
    expect(none.stderr).toContain('store NOPE not found');
  });
});
