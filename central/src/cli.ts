import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { createLogger, isTbError, parseHostPort, TbCodes, TbError } from '@tillbridge/shared';
import { AdminClient } from './cli/admin-client.js';
import { ago, parseDuration, table } from './cli/format.js';
import { HUB_SOFTWARE, initHub, isInitialized, startHub } from './hub.js';
import { AuditLog, type VerifyResult } from './domain/audit-log.js';
import { systemClock } from './domain/clock.js';
import { openHubStorage } from './storage/sqlite.js';

/** Exit codes, documented in docs/cli.md. */
export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, NOT_FOUND: 3, AUTH: 4, AUDIT_BROKEN: 5, CONFLICT: 6 } as const;

function exitCodeFor(err: unknown): number {
  if (!isTbError(err)) return EXIT.FAILURE;
  switch (err.code) {
    case TbCodes.INVALID:
    case TbCodes.MALFORMED:
    case TbCodes.CONFIG:
      return EXIT.USAGE;
    case TbCodes.NOT_FOUND:
      return EXIT.NOT_FOUND;
    case TbCodes.UNAUTHORIZED:
    case TbCodes.FORBIDDEN:
      return EXIT.AUTH;
    case TbCodes.AUDIT_BROKEN:
      return EXIT.AUDIT_BROKEN;
    case TbCodes.CONFLICT:
      return EXIT.CONFLICT;
    default:
      return EXIT.FAILURE;
  }
}

const program = new Command();
program
  .name('tillbridge-hub')
  .description('Run and operate the Tillbridge hub: stores, inventory, sales, returns, audit.')
  .version(HUB_SOFTWARE.split('/')[1]!)
  .addOption(new Option('--hub <url>', 'hub admin API base URL').env('TILLBRIDGE_HUB_URL').default('http://127.0.0.1:7400'))
  .addOption(new Option('--token <token>', 'admin token (printed by init)').env('TILLBRIDGE_ADMIN_TOKEN'))
  .showHelpAfterError('(run with --help for usage)');

function client(): AdminClient {
  const o = program.opts<{ hub: string; token?: string }>();
  return new AdminClient(o.hub, o.token);
}

function print(json: boolean | undefined, data: unknown, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : `${human()}\n`);
}

/** Wraps an action: errors print "error: …" and exit with the code for their kind. */
function act<A extends unknown[]>(fn: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      process.stderr.write(`error: ${(err as Error).message}\n`);
      process.exit(exitCodeFor(err));
    }
  };
}

const dataOpt = (): Option => new Option('--data <dir>', 'hub data directory').env('TILLBRIDGE_HUB_DATA').makeOptionMandatory();

program
  .command('init')
  .description("create the hub's database and print the first admin token (shown once)")
  .addOption(dataOpt())
  .option('--json', 'print JSON')
  .addHelpText('after', '\nExample:\n  tillbridge-hub init --data /var/lib/tillbridge-hub --json')
  .action(
    act((opts: { data: string; json?: boolean }) => {
      const log = createLogger({ name: 'tillbridge-hub', level: 'warn' });
      const { adminToken } = initHub(opts.data, log);
      print(opts.json, { adminToken }, () => `hub created in ${opts.data}\nadmin token (shown once, keep it safe): ${adminToken}\n\nexport TILLBRIDGE_ADMIN_TOKEN=${adminToken}`);
    }),
  );

program
  .command('serve')
  .description("serve the agents' WebSocket, the token endpoint and the admin API")
  .addOption(dataOpt())
  .option('--listen <host:port>', 'address to listen on', '127.0.0.1:7400')
  .option('--reservation-ttl <duration>', 'how long an approved return reserves its quantity', '15m')
  .option('--token-ttl <duration>', 'lifetime of agent access tokens', '15m')
  .option('--log-level <level>', 'fatal, error, warn, info, debug', 'info')
  .addHelpText('after', '\nExample:\n  tillbridge-hub serve --data /var/lib/tillbridge-hub --listen 0.0.0.0:7400')
  .action(
    act(async (opts: { data: string; listen: string; reservationTtl: string; tokenTtl: string; logLevel: string }) => {
      let listen;
      let ttl;
      let tokenTtl;
      try {
        listen = parseHostPort(opts.listen);
        ttl = parseDuration(opts.reservationTtl);
        tokenTtl = parseDuration(opts.tokenTtl);
      } catch (err) {
        throw new TbError(TbCodes.CONFIG, `${(err as Error).message}`);
      }
      if (!isInitialized(opts.data)) throw new TbError(TbCodes.CONFIG, `no hub in ${opts.data}: run \`tillbridge-hub init --data ${opts.data}\` first`);
      const log = createLogger({ name: 'tillbridge-hub', level: opts.logLevel });
      const running = await startHub({ dataDir: opts.data, host: listen.host, port: listen.port, reservationTtlMs: ttl, tokenLifetimeSec: Math.max(10, Math.round(tokenTtl / 1000)), log });
      let signals = 0;
      const shutdown = (sig: string): void => {
        if (++signals > 1) process.exit(EXIT.FAILURE);
        log.info({ signal: sig }, 'stopping');
        running.stop().then(() => process.exit(EXIT.OK), () => process.exit(EXIT.FAILURE));
      };
      process.on('SIGINT', () => shutdown('SIGINT'));
      process.on('SIGTERM', () => shutdown('SIGTERM'));
    }),
  );

// ---- stores
const stores = program.command('stores').description('stores and their API keys');
stores
  .command('add <id>')
  .description("create a store and print its API key (shown once; put it in the store agent's config)")
  .option('--name <name>', 'display name')
  .option('--json', 'print JSON')
  .addHelpText('after', '\nExample:\n  tillbridge-hub stores add S001 --name "Main Street"')
  .action(
    act(async (id: string, opts: { name?: string; json?: boolean }) => {
      const r = await client().post<{ store: string; name: string; apiKey: string }>('/v1/admin/stores', { id, name: opts.name });
      print(opts.json, r, () => `store ${r.store} (${r.name}) created\nAPI key (shown once): ${r.apiKey}`);
    }),
  );
stores
  .command('list')
  .description('list stores')
  .option('--json', 'print JSON')
  .addHelpText('after', '\nExample:\n  tillbridge-hub stores list --json')
  .action(
    act(async (opts: { json?: boolean }) => {
      const r = await client().get<{ id: string; name: string; connected: boolean; lastSeenAt: string | null }[]>('/v1/admin/stores');
      print(opts.json, r, () => table(['STORE', 'NAME', 'CONNECTED', 'LAST SEEN'], r.map((s) => [s.id, s.name, s.connected ? 'yes' : 'no', s.connected ? 'now' : ago(s.lastSeenAt)])));
    }),
  );

// ---- inventory
const inventory = program.command('inventory').description('authoritative inventory (a ledger of movements)');
inventory
  .command('set <store> <sku> <qty>')
  .description('set on-hand quantity (recorded as an adjustment movement)')
  .option('--json', 'print JSON')
  .addHelpText('after', '\nExample:\n  tillbridge-hub inventory set S001 SKU-123 40')
  .action(
    act(async (store: string, sku: string, qty: string, opts: { json?: boolean }) => {
      const n = Number(qty);
      if (qty.trim() === '' || !Number.isFinite(n)) throw new TbError(TbCodes.INVALID, `QTY: expected a number, got "${qty}"`);
      const r = await client().put<{ store: string; sku: string; onHand: number; delta: number }>(`/v1/admin/stores/${encodeURIComponent(store)}/inventory/${encodeURIComponent(sku)}`, { qty: n });
      print(opts.json, r, () => `${r.store} ${r.sku}: on hand ${r.onHand} (${r.delta >= 0 ? '+' : ''}${r.delta})`);
    }),
  );
inventory
  .command('import <file>')
  .description('set on-hand quantities from a CSV file with the header store,sku,qty (all rows or none)')
  .option('--json', 'print JSON')
  .addHelpText('after', '\nExample:\n  tillbridge-hub inventory import stock.csv')
  .action(
    act(async (file: string, opts: { json?: boolean }) => {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        throw new TbError(TbCodes.INVALID, `cannot read ${file}: ${(err as Error).message}`);
      }
      const r = await client().post<{ rows: number; changed: number; stores: string[] }>('/v1/admin/inventory/import', text, 'text/csv');
      print(opts.json, r, () => `imported ${r.rows} row(s) for ${r.stores.length} store(s); ${r.changed} changed`);
    }),
  );
inventory
  .command('show <store> [sku]')
  .description("show a store's on-hand quantities")
  .option('--json', 'print JSON')
  .addHelpText('after', '\nExample:\n  tillbridge-hub inventory show S001 SKU-123 --json')
  .action(
    act(async (store: string, sku: string | undefined, opts: { json?: boolean }) => {
      const q = sku ? `?sku=${encodeURIComponent(sku)}` : '';
      const r = await client().get<{ store: string; sku: string; onHand: number }[]>(`/v1/admin/stores/${encodeURIComponent(store)}/inventory${q}`);
      print(opts.json, r, () => table(['STORE', 'SKU', 'ON HAND'], r.map((i) => [i.store, i.sku, i.onHand])));
    }),
  );

// ---- sales
const sales = program.command('sales').description('sales from every channel');
sales
  .command('show <receipt>')
  .description('show a sale with what is returned and still returnable per line')
  .option('--json', 'print JSON')
  .addHelpText('after', '\nExample:\n  tillbridge-hub sales show R-1001')
  .action(
    act(async (receipt: string, opts: { json?: boolean }) => {
      type Sale = { receipt: string; store: string; at: string; currency: string; total: number; lines: { line: number; sku: string; qty: number; unitPrice: number; returnedOrReserved: number; returnable: number }[] };
      const r = await client().get<Sale>(`/v1/admin/sales/${encodeURIComponent(receipt)}`);
      print(opts.json, r, () =>
        [`receipt ${r.receipt}  store ${r.store}  ${r.at}  total ${r.total} ${r.currency}`, table(['LINE', 'SKU', 'SOLD', 'UNIT PRICE', 'RETURNED/RESERVED', 'RETURNABLE'], r.lines.map((l) => [l.line, l.sku, l.qty, l.unitPrice, l.returnedOrReserved, l.returnable]))].join('\n'),
      );
    }),
  );

// ---- returns
const returns = program.command('returns').description('return tickets, online and offline');
returns
  .command('list')
  .description('list returns (exceptions included and marked)')
  .option('--store <store>', 'only this store')
  .option('--json', 'print JSON')
  .addHelpText('after', '\nExample:\n  tillbridge-hub returns list --store S001')
  .action(
    act(async (opts: { store?: string; json?: boolean }) => {
      type Ret = { authorization: string; store: string; receipt: string; mode: string; decision: string; status: string; exception: string | null; createdAt: string };
      const q = opts.store ? `?store=${encodeURIComponent(opts.store)}` : '';
      const r = await client().get<Ret[]>(`/v1/admin/returns${q}`);
      print(opts.json, r, () =>
        table(['AUTHORIZATION', 'STORE', 'RECEIPT', 'MODE', 'DECISION', 'STATUS', 'EXCEPTION', 'CREATED'], r.map((x) => [x.authorization, x.store, x.receipt, x.mode, x.decision, x.status, x.exception ? `!! ${x.exception}` : '', x.createdAt])),
      );
    }),
  );
returns
  .command('exceptions')
  .description('events and returns the hub refused or flagged (kept, never retried)')
  .option('--store <store>', 'only this store')
  .option('--json', 'print JSON')
  .addHelpText('after', '\nExample:\n  tillbridge-hub returns exceptions --store S001 --json')
  .action(
    act(async (opts: { store?: string; json?: boolean }) => {
      type Exc = { id: string; store: string; kind: string; code: string; reason: string; authorization: string | null; createdAt: string };
      const q = opts.store ? `?store=${encodeURIComponent(opts.store)}` : '';
      const r = await client().get<Exc[]>(`/v1/admin/exceptions${q}`);
      print(opts.json, r, () => table(['STORE', 'KIND', 'CODE', 'AUTHORIZATION', 'CREATED', 'REASON'], r.map((x) => [x.store, x.kind, x.code, x.authorization, x.createdAt, x.reason])));
    }),
  );

// ---- status
program
  .command('status')
  .description('each store: connected, last seen, lag, outbox depth; with --store, its registers (terminals) too')
  .option('--store <store>', 'one store, with the state of each of its registers')
  .option('--json', 'print JSON')
  .addHelpText('after', '\nExamples:\n  tillbridge-hub status\n  tillbridge-hub status --store S001 --json')
  .action(
    act(async (opts: { store?: string; json?: boolean }) => {
      type Term = { register: string; state: string; detail: string | null; transport: string; connections: number; reported: { state: string; detail: string | null } | null; lastMessageAt: string | null; at: string };
      type St = { connectedStores: number; stores: { store: string; connected: boolean; lastSeen: string | null; lagMs: number | null; outboxDepth: number | null; lastSeq: number; terminals: Term[] }[] };
      const q = opts.store ? `?store=${encodeURIComponent(opts.store)}` : '';
      const r = await client().get<St>(`/v1/admin/status${q}`);
      print(opts.json, r, () => {
        const out = [
          opts.store ? '' : `${r.connectedStores} of ${r.stores.length} store(s) connected`,
          table(['STORE', 'CONNECTED', 'LAST SEEN', 'LAG', 'OUTBOX', 'LAST SEQ'], r.stores.map((s) => [s.store, s.connected ? 'yes' : 'NO', s.connected ? 'now' : ago(s.lastSeen), s.lagMs === null ? '-' : `${s.lagMs} ms`, s.outboxDepth, s.lastSeq])),
        ].filter(Boolean);
        if (opts.store) {
          const terms = r.stores[0]?.terminals ?? [];
          out.push('', terms.length ? table(['REGISTER', 'STATE', 'TRANSPORT', 'CONNS', 'REPORTED', 'LAST MESSAGE', 'SINCE', 'DETAIL'], terms.map((t) => [t.register, t.state, t.transport, t.connections, t.reported ? `${t.reported.state}${t.reported.detail ? ` (${t.reported.detail})` : ''}` : '', t.lastMessageAt ? ago(t.lastMessageAt) : 'never', t.at, t.detail])) : 'no register has reported yet');
        }
        return out.join('\n');
      });
    }),
  );

// ---- audit
const audit = program.command('audit').description('the hash-chained audit log');
audit
  .command('verify')
  .description('check the whole chain; exit 0 when intact, 5 naming the first entry that does not verify')
  .option('--data <dir>', "read the hub's database directly instead of asking the running hub")
  .option('--json', 'print JSON')
  .addHelpText('after', '\nExamples:\n  tillbridge-hub audit verify\n  tillbridge-hub audit verify --data /var/lib/tillbridge-hub')
  .action(
    act(async (opts: { data?: string; json?: boolean }) => {
      let r: VerifyResult;
      if (opts.data) {
        const s = openHubStorage(opts.data);
        try {
          r = new AuditLog(s, systemClock).verify();
        } finally {
          s.close();
        }
      } else {
        r = await client().get<VerifyResult>('/v1/admin/audit/verify');
      }
      print(opts.json, r, () => (r.ok ? `audit log intact: ${r.entries} entries, head ${r.head}` : `AUDIT LOG BROKEN at entry ${r.firstBad}: ${r.problem}`));
      if (!r.ok) process.exitCode = EXIT.AUDIT_BROKEN;
    }),
  );
audit
  .command('tail')
  .description('the latest audit entries')
  .option('-n, --lines <n>', 'how many', '20')
  .option('--json', 'print JSON')
  .addHelpText('after', '\nExample:\n  tillbridge-hub audit tail -n 50')
  .action(
    act(async (opts: { lines: string; json?: boolean }) => {
      type E = { id: number; at: string; actor: string; action: string; store: string | null; register: string | null; outcome: string; resource: string | null };
      const r = await client().get<E[]>(`/v1/admin/audit?limit=${Number(opts.lines) || 20}`);
      print(opts.json, r, () => table(['ID', 'AT', 'ACTOR', 'ACTION', 'STORE', 'REGISTER', 'OUTCOME', 'RESOURCE'], r.map((e) => [e.id, e.at, e.actor, e.action, e.store, e.register, e.outcome, e.resource])));
    }),
  );

program.exitOverride((err) => {
  process.exit(err.exitCode === 0 ? EXIT.OK : EXIT.USAGE);
});

await program.parseAsync(process.argv);
