import { TbCodes, TbError } from '@tillbridge/shared';
import { writeDevCerts } from '../../tls/dev-certs.js';
import { createLocalAdminToken } from '../../local-admin.js';
import { ago, parseDuration, table } from '../format.js';
import { act, databaseOf, databaseOpt, print, type CliContext } from '../context.js';

function ms(v: string, what: string): number {
  try {
    return parseDuration(v);
  } catch (err) {
    throw new TbError(TbCodes.INVALID, `${what}: ${(err as Error).message}`);
  }
}

export function securityCommands(ctx: CliContext): void {
  const { program } = ctx;

  const keys = program.command('keys').description("stores' API keys: rotation without a dropped transaction, schedules, revocation");
  keys
    .command('list <store>')
    .description("each key's state and last use (never the key itself), and the rotation schedule")
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  tillbridge-hub keys list S001')
    .action(
      act(async (store: string, opts: { json?: boolean }) => {
        type K = { id: string; state: string; createdAt: string; expiresAt: string | null; lastUsedAt: string | null; confirmedAt: string | null };
        const r = await ctx.client().get<{ store: string; keys: K[]; schedule: { everyMs: number; graceMs: number; nextAt: string } | null }>(`/v1/admin/stores/${encodeURIComponent(store)}/keys`);
        print(opts.json, r, () =>
          [
            table(['KEY', 'STATE', 'CREATED', 'EXPIRES', 'LAST USED', 'AGENT HAS IT'], r.keys.map((k) => [k.id, k.state, k.createdAt, k.expiresAt, k.lastUsedAt ? ago(k.lastUsedAt) : 'never', k.confirmedAt ?? (k.state === 'pending' ? 'not yet' : '')])),
            r.schedule ? `rotated every ${Math.round(r.schedule.everyMs / 86_400_000)} d (grace ${Math.round(r.schedule.graceMs / 3_600_000)} h); next ${r.schedule.nextAt}` : 'no rotation schedule',
          ].join('\n'),
        );
      }),
    );
  keys
    .command('rotate <store>')
    .description("a new key: sent to the store's agent over its connection (now, or when it next connects); the old key works until the grace period ends")
    .option('--grace <duration>', 'how long the old key keeps working', '24h')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  tillbridge-hub keys rotate S001 --grace 24h')
    .action(
      act(async (store: string, opts: { grace: string; json?: boolean }) => {
        const r = await ctx.client().post<{ id: string; oldKeysExpireAt: string; apiKey?: string; connected: boolean }>(`/v1/admin/stores/${encodeURIComponent(store)}/keys/rotate`, { graceMs: ms(opts.grace, '--grace') });
        print(opts.json, r, () =>
          [
            `new key ${r.id}; the old key works until ${r.oldKeysExpireAt}`,
            r.connected ? "the store's agent is connected: it gets the new key now" : "the store's agent is not connected: it gets the new key when it connects",
            r.apiKey ? `if the agent stays offline past the grace period, put this key in its config (shown once): ${r.apiKey}` : '',
          ]
            .filter(Boolean)
            .join('\n'),
        );
      }),
    );
  keys
    .command('schedule <store>')
    .description('rotate the store\'s key automatically')
    .option('--every <duration>', 'how often', '30d')
    .option('--grace <duration>', 'how long each old key keeps working', '24h')
    .option('--off', 'stop rotating automatically')
    .addHelpText('after', '\nExample:\n  tillbridge-hub keys schedule S001 --every 30d --grace 24h')
    .action(
      act(async (store: string, opts: { every: string; grace: string; off?: boolean }) => {
        const body = opts.off ? { off: true } : { everyMs: ms(opts.every, '--every'), graceMs: ms(opts.grace, '--grace') };
        const r = await ctx.client().put<{ nextAt?: string; removed?: boolean }>(`/v1/admin/stores/${encodeURIComponent(store)}/keys/schedule`, body);
        process.stdout.write(opts.off ? `${r.removed ? 'schedule removed' : 'there was no schedule'}\n` : `store ${store}: key rotated every ${opts.every}; next at ${r.nextAt}\n`);
      }),
    );
  keys
    .command('revoke <store> <keyId>')
    .description('end a key at once (and the connections that use it)')
    .addHelpText('after', '\nExample:\n  tillbridge-hub keys revoke S001 tbk_9jjg6r2e')
    .action(
      act(async (store: string, keyId: string) => {
        await ctx.client().post(`/v1/admin/stores/${encodeURIComponent(store)}/keys/${encodeURIComponent(keyId)}/revoke`, {});
        process.stdout.write(`key ${keyId} of store ${store} revoked\n`);
      }),
    );

  const tokens = program.command('tokens').description('admin tokens: admin (read and write) or operator (read-only)');
  tokens
    .command('create')
    .description('a new admin token (shown once)')
    .requiredOption('--role <role>', 'admin | operator')
    .requiredOption('--name <name>', 'who or what it is for')
    .option('--data <dir>', "on the hub host, as the hub's user: make it straight in the hub's data directory, without the admin API (when no admin token works; audited as cli:local)")
    .addOption(databaseOpt())
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  tillbridge-hub tokens create --role operator --name "night shift dashboard"\n  sudo -u tillbridge tillbridge-hub tokens create --role admin --name "recovery" --data /var/lib/tillbridge-hub')
    .action(
      act(async (opts: { role: string; name: string; data?: string; database?: string; json?: boolean }) => {
        const r = opts.data
          ? createLocalAdminToken(opts.data, opts.role, opts.name, undefined, databaseOf(opts.database))
          : await ctx.client().post<{ id: string; role: string; token: string }>('/v1/admin/tokens', { role: opts.role, name: opts.name });
        print(opts.json, r, () => `${r.role} token ${r.id} (shown once): ${r.token}`);
      }),
    );
  tokens
    .command('list')
    .description('admin tokens and their roles (never the token)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  tillbridge-hub tokens list')
    .action(
      act(async (opts: { json?: boolean }) => {
        const r = await ctx.client().get<{ id: string; role: string; name: string; createdAt: string; revokedAt: string | null }[]>('/v1/admin/tokens');
        print(opts.json, r, () => table(['ID', 'ROLE', 'NAME', 'CREATED', 'REVOKED'], r.map((t) => [t.id, t.role, t.name, t.createdAt, t.revokedAt])));
      }),
    );
  tokens
    .command('revoke <id>')
    .description('end an admin token at once')
    .addHelpText('after', '\nExample:\n  tillbridge-hub tokens revoke tba_89yga8t3')
    .action(
      act(async (id: string) => {
        await ctx.client().post(`/v1/admin/tokens/${encodeURIComponent(id)}/revoke`, {});
        process.stdout.write(`admin token ${id} revoked\n`);
      }),
    );

  const certs = program.command('certs').description('certificates for trying TLS');
  certs
    .command('dev')
    .description('a local CA, a hub certificate and store client certificates, for trying TLS and mutual TLS on one machine (not for production)')
    .requiredOption('--out <dir>', 'where to write them')
    .option('--hosts <list>', 'names and addresses of the hub', 'localhost,127.0.0.1,::1')
    .option('--stores <list>', 'store ids to make client certificates for', '')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  tillbridge-hub certs dev --out ./certs --stores S001,S002\n  tillbridge-hub serve --data hub --tls-cert certs/hub.pem --tls-key certs/hub-key.pem --client-ca certs/ca.pem')
    .action(
      act((opts: { out: string; hosts: string; stores: string; json?: boolean }) => {
        const split = (v: string): string[] => v.split(',').map((x) => x.trim()).filter(Boolean);
        const f = writeDevCerts(opts.out, split(opts.hosts), split(opts.stores));
        print(opts.json, f, () =>
          [`CA:          ${f.caCert}  (agents: hub.caFile)`, `hub:         ${f.serverCert} ${f.serverKey}  (serve --tls-cert --tls-key)`, ...Object.entries(f.clients).map(([s, c]) => `store ${s}: ${c.cert} ${c.key}  (agent: hub.certFile, hub.keyFile)`)].join('\n'),
        );
      }),
    );
}
