import { Option } from 'commander';
import { writeDevCerts } from '../../tls/dev-certs.js';
import { createLocalAdminToken } from '../../local-admin.js';
import { ago, durationOption, examplesHelp, table } from '../format.js';
import { act, askCommand, databaseOf, databaseOpt, idCommand, print, topCommand, type CliContext } from '../context.js';
import * as contract from '../../http/contract/keys.js';
import type { ResponseOf } from '../../http/contract/route.js';

/** The key list's text: each key's state and last use, and the rotation schedule. */
function keysText(r: ResponseOf<typeof contract.listKeys>): string {
  const rows = r.keys.map((k) => [
    k.id,
    k.state,
    k.createdAt,
    k.expiresAt,
    k.lastUsedAt ? ago(k.lastUsedAt) : 'never',
    k.confirmedAt ?? (k.state === 'pending' ? 'not yet' : ''),
  ]);
  const every = r.schedule && Math.round(r.schedule.everyMs / 86_400_000);
  const grace = r.schedule && Math.round(r.schedule.graceMs / 3_600_000);
  const schedule = r.schedule
    ? `rotated every ${every} d (grace ${grace} h); next ${r.schedule.nextAt}`
    : 'no rotation schedule';
  return [table(['KEY', 'STATE', 'CREATED', 'EXPIRES', 'LAST USED', 'AGENT HAS IT'], rows), schedule].join('\n');
}

function keyCommands(ctx: CliContext): void {
  const keys = topCommand(
    ctx,
    'keys',
    "stores' API keys: rotation without a dropped transaction, schedules, revocation",
  );
  askCommand(ctx, keys, 'list <store>', {
    description: "each key's state and last use (never the key itself), and the rotation schedule",
    examples: ['keys list S001'],
    route: contract.listKeys,
    request: (store: string) => ({ params: { store } }),
    text: keysText,
  });
  askCommand(ctx, keys, 'rotate <store>', {
    description:
      "a new key: sent to the store's agent over its connection (now, or when it next connects); " +
      'the old key works until the grace period ends',
    options: [new Option('--grace <duration>', 'how long the old key keeps working').default('24h')],
    examples: ['keys rotate S001 --grace 24h'],
    route: contract.rotateKey,
    request: (store: string, opts: { grace: string }) => ({
      params: { store },
      body: { graceMs: durationOption(opts.grace, '--grace') },
    }),
    text: (r) => {
      const delivery = r.connected
        ? "the store's agent is connected: it gets the new key now"
        : "the store's agent is not connected: it gets the new key when it connects";
      const fallback =
        `if the agent stays offline past the grace period, put this key in its config (shown ` + `once): ${r.apiKey}`;
      const rotated = `new key ${r.id}; the old key works until ${r.oldKeysExpireAt}`;
      return [rotated, delivery, fallback].join('\n');
    },
  });
  keys
    .command('schedule <store>')
    .description("rotate the store's key automatically")
    .option('--every <duration>', 'how often', '30d')
    .option('--grace <duration>', 'how long each old key keeps working', '24h')
    .option('--off', 'stop rotating automatically')
    .addHelpText('after', '\nExample:\n  tillbridge-hub keys schedule S001 --every 30d --grace 24h')
    .action(
      act(async (store: string, opts: { every: string; grace: string; off?: boolean }) => {
        const body = opts.off
          ? { off: true }
          : { everyMs: durationOption(opts.every, '--every'), graceMs: durationOption(opts.grace, '--grace') };
        const r = await ctx.client().request(contract.scheduleKeys, { params: { store }, body });
        const removed = 'removed' in r ? r.removed : false;
        const nextAt = 'nextAt' in r ? r.nextAt : undefined;
        const text = opts.off
          ? removed
            ? 'schedule removed'
            : 'there was no schedule'
          : `store ${store}: key rotated every ${opts.every}; next at ${nextAt}`;
        process.stdout.write(`${text}\n`);
      }),
    );
  keys
    .command('revoke <store> <keyId>')
    .description('end a key at once (and the connections that use it)')
    .addHelpText('after', '\nExample:\n  tillbridge-hub keys revoke S001 tbk_9jjg6r2e')
    .action(
      act(async (store: string, keyId: string) => {
        await ctx.client().request(contract.revokeKey, { params: { store, id: keyId }, body: {} });
        process.stdout.write(`key ${keyId} of store ${store} revoked\n`);
      }),
    );
}

function tokenCommands(ctx: CliContext): void {
  const tokens = topCommand(ctx, 'tokens', 'admin tokens: admin (read and write) or operator (read-only)');
  tokens
    .command('create')
    .description('a new admin token (shown once)')
    .requiredOption('--role <role>', 'admin | operator')
    .requiredOption('--name <name>', 'who or what it is for')
    .option(
      '--data <dir>',
      "on the hub host, as the hub's user: make it straight in the hub's data directory, without the admin API " +
        '(when no admin token works; audited as cli:local)',
    )
    .addOption(databaseOpt())
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      examplesHelp(
        'tillbridge-hub tokens create --role operator --name "night shift dashboard"',
        'sudo -u tillbridge tillbridge-hub tokens create --role admin --name "recovery" --data /var/lib/tillbridge-hub',
      ),
    )
    .action(
      act(async (opts: { role: string; name: string; data?: string; database?: string; json?: boolean }) => {
        const r = opts.data
          ? createLocalAdminToken(opts.data, opts.role, opts.name, undefined, databaseOf(opts.database))
          : await ctx.client().request(contract.createToken, { body: { role: opts.role, name: opts.name } });
        print(opts.json, r, () => `${r.role} token ${r.id} (shown once): ${r.token}`);
      }),
    );
  askCommand(ctx, tokens, 'list', {
    description: 'admin tokens and their roles (never the token)',
    examples: ['tokens list'],
    route: contract.listTokens,
    text: (r) =>
      table(
        ['ID', 'ROLE', 'NAME', 'CREATED', 'REVOKED'],
        r.map((t) => [t.id, t.role, t.name, t.createdAt, t.revokedAt]),
      ),
  });
  idCommand(tokens, 'revoke <id>', 'end an admin token at once', 'tokens revoke tba_89yga8t3', async (id) => {
    await ctx.client().request(contract.revokeToken, { params: { id }, body: {} });
    return `admin token ${id} revoked`;
  });
}

export function securityCommands(ctx: CliContext): void {
  const { program } = ctx;
  keyCommands(ctx);
  tokenCommands(ctx);

  const certs = program.command('certs').description('certificates for trying TLS');
  certs
    .command('dev')
    .description(
      'a local CA, a hub certificate and store client certificates, for trying TLS and mutual TLS on ' +
        'one machine (not for production)',
    )
    .requiredOption('--out <dir>', 'where to write them')
    .option('--hosts <list>', 'names and addresses of the hub', 'localhost,127.0.0.1,::1')
    .option('--stores <list>', 'store ids to make client certificates for', '')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\n' +
        'Example:\n' +
        '  tillbridge-hub certs dev --out ./certs --stores S001,S002\n' +
        '  tillbridge-hub serve --data hub --tls-cert certs/hub.pem --tls-key certs/hub-key.pem ' +
        '--client-ca certs/ca.pem',
    )
    .action(
      act((opts: { out: string; hosts: string; stores: string; json?: boolean }) => {
        const split = (v: string): string[] =>
          v
            .split(',')
            .map((x) => x.trim())
            .filter(Boolean);
        const f = writeDevCerts(opts.out, split(opts.hosts), split(opts.stores));
        print(opts.json, f, () =>
          [
            `CA:          ${f.caCert}  (agents: hub.caFile)`,
            `hub:         ${f.serverCert} ${f.serverKey}  (serve --tls-cert --tls-key)`,
            ...Object.entries(f.clients).map(
              ([s, c]) => `store ${s}: ${c.cert} ${c.key}  (agent: hub.certFile, hub.keyFile)`,
            ),
          ].join('\n'),
        );
      }),
    );
}
