import * as contract from '../../http/contract/webhooks.js';
import type { ResponseOf } from '../../http/contract/route.js';
import { SUBSCRIBABLE_EVENT_TYPES } from '../../webhooks/events.js';
import { ago, durationOption, table } from '../format.js';
import { type Command, Option } from 'commander';
import { act, askCommand, idCommand, type CliContext } from '../context.js';

const EVENTS = SUBSCRIBABLE_EVENT_TYPES.join(', ');

function stateOf(e: ResponseOf<typeof contract.listWebhooks>[number]): string {
  if (e.state === 'disabled') return `disabled since ${e.disabledAt}: ${e.disabledReason}`;
  return e.failingSince ? `enabled, failing since ${e.failingSince}` : 'enabled';
}

function deliveryTable(r: ResponseOf<typeof contract.listDeliveries>): string {
  return table(
    ['DELIVERY', 'WEBHOOK', 'EVENT', 'WEBHOOK-ID', 'ATTEMPTS', 'STATE', 'NEXT ATTEMPT', 'LAST STATUS', 'LAST ERROR'],
    r.map((d) => [
      d.id,
      d.webhook,
      d.type,
      d.messageId,
      d.attempts,
      d.state,
      d.nextAttemptAt,
      d.lastStatus,
      d.lastError,
    ]),
  );
}

/** `tillbridge-hub webhooks …`: endpoints, secrets, deliveries (Standard Webhooks; docs/webhooks.md). */
export function webhookCommands(ctx: CliContext): void {
  const webhooks = ctx.program
    .command('webhooks')
    .description('signed webhooks on return events (Standard Webhooks): endpoints, secrets, deliveries');
  addWebhookCommand(webhooks, ctx);
  listWebhooksCommand(webhooks, ctx);
  removeWebhookCommand(webhooks, ctx);
  testWebhookCommand(webhooks, ctx);
  deliveriesCommand(webhooks, ctx);
  redeliverCommand(webhooks, ctx);
  rotateSecretCommand(webhooks, ctx);
  enableWebhookCommand(webhooks, ctx);
  disableWebhookCommand(webhooks, ctx);
}

function addWebhookCommand(webhooks: Command, ctx: CliContext): void {
  askCommand(ctx, webhooks, 'add <url>', {
    description: 'a new endpoint; prints its signing secret (shown once)',
    options: [
      new Option('--events <list>', `comma-separated: ${EVENTS}`).makeOptionMandatory(),
      new Option('--store <store>', 'only events of this store (default: every store)'),
    ],
    examples: [
      'webhooks add https://erp.example/hooks/tillbridge --events return.completed,return.exception --store S001',
    ],
    route: contract.addWebhook,
    request: (url: string, opts: { events: string; store?: string }) => {
      const events = opts.events
        .split(',')
        .map((e) => e.trim())
        .filter(Boolean);
      return { body: { url, events, store: opts.store ?? null } };
    },
    text: (r) =>
      [
        `webhook ${r.id}: ${r.url}  events ${r.events.join(',')}  store ${r.store ?? 'all'}`,
        `signing secret (shown once; the receiver verifies webhook-signature with it): ${r.secret}`,
        ...r.warnings.map((w) => `warning: ${w}`),
      ].join('\n'),
  });
}

function listWebhooksCommand(webhooks: Command, ctx: CliContext): void {
  askCommand(ctx, webhooks, 'list', {
    description: 'endpoints: events, store, enabled or disabled and why, last success and failure (never the secret)',
    examples: ['webhooks list --json'],
    route: contract.listWebhooks,
    text: (r) =>
      r.length === 0
        ? 'no webhooks (add one: tillbridge-hub webhooks add URL --events return.completed)'
        : table(
            ['ID', 'URL', 'EVENTS', 'STORE', 'STATE', 'LAST SUCCESS', 'LAST FAILURE', 'OPEN'],
            r.map((e) => [
              e.id,
              e.url,
              e.events.join(','),
              e.store ?? 'all',
              stateOf(e),
              ago(e.lastSuccessAt),
              ago(e.lastFailureAt),
              e.openDeliveries,
            ]),
          ),
  });
}

function removeWebhookCommand(webhooks: Command, ctx: CliContext): void {
  idCommand(
    webhooks,
    'remove <id>',
    'delete an endpoint and its deliveries',
    'webhooks remove wh_3k9x2m7q1a',
    async (id) => {
      await ctx.client().request(contract.removeWebhook, { params: { id } });
      return `webhook ${id} removed`;
    },
  );
}

function testWebhookCommand(webhooks: Command, ctx: CliContext): void {
  askCommand(ctx, webhooks, 'test <id>', {
    description: 'send a webhook.test event to this endpoint only',
    examples: ['webhooks test wh_3k9x2m7q1a', 'webhooks deliveries --webhook wh_3k9x2m7q1a'],
    route: contract.testWebhook,
    request: (id: string) => ({ params: { id }, body: {} }),
    text: (r, id) =>
      `webhook.test queued for ${id}: delivery ${r.delivery}, webhook-id ${r.messageId} (see: ` +
      `tillbridge-hub webhooks deliveries --webhook ${id})`,
  });
}

function deliveriesCommand(webhooks: Command, ctx: CliContext): void {
  askCommand(ctx, webhooks, 'deliveries', {
    description: 'deliveries, newest first, with their state and last error',
    note:
      'Each delivery shows its attempts, its state (pending, failed = retrying, succeeded, abandoned),\n' +
      "its next attempt, and the last attempt's status and error.",
    options: [
      new Option('--webhook <id>', 'only this endpoint'),
      new Option('--failed', 'only those whose last attempt failed (failed or abandoned)'),
      new Option('--limit <n>', 'at most this many').default('100'),
    ],
    examples: ['webhooks deliveries --webhook wh_3k9x2m7q1a --failed'],
    route: contract.listDeliveries,
    request: (opts: { webhook?: string; failed?: boolean; limit: string }) => ({
      query: { limit: opts.limit, webhook: opts.webhook, failed: opts.failed ? '1' : undefined },
    }),
    text: (r) => (r.length === 0 ? 'no deliveries' : deliveryTable(r)),
  });
}

function redeliverCommand(webhooks: Command, ctx: CliContext): void {
  askCommand(ctx, webhooks, 'redeliver <delivery>', {
    description: 'a new attempt now, with the same webhook-id (the retry schedule starts over)',
    examples: ['webhooks redeliver dlv_06ej9k2q8v0f3m7r1t5w9x2c4d'],
    route: contract.redeliver,
    request: (id: string) => ({ params: { id }, body: {} }),
    text: (r) => `delivery ${r.id} (${r.type}, webhook-id ${r.messageId}) queued for a new attempt now`,
  });
}

function rotateSecretCommand(webhooks: Command, ctx: CliContext): void {
  askCommand(ctx, webhooks, 'rotate-secret <id>', {
    description: 'a new signing secret (shown once); the old one signs too for --overlap',
    note: 'During the overlap every delivery carries both signatures, so the receiver can switch at its pace.',
    options: [
      new Option('--overlap <duration>', 'how long the old secret keeps signing too (0 ends it now)').default('24h'),
    ],
    examples: ['webhooks rotate-secret wh_3k9x2m7q1a --overlap 24h'],
    route: contract.rotateWebhookSecret,
    request: (id: string, opts: { overlap: string }) => ({
      params: { id },
      body: { overlapMs: durationOption(opts.overlap, '--overlap') },
    }),
    text: (r) =>
      [
        `new signing secret for ${r.id} (shown once): ${r.secret}`,
        r.previousSecretExpiresAt
          ? `until ${r.previousSecretExpiresAt} every request carries both signatures; the old secret then stops`
          : 'the old secret no longer signs',
      ].join('\n'),
  });
}

function enableWebhookCommand(webhooks: Command, ctx: CliContext): void {
  idCommand(
    webhooks,
    'enable <id>',
    'deliver to a disabled endpoint again (its abandoned deliveries can then be redelivered)',
    'webhooks enable wh_3k9x2m7q1a',
    async (id) => {
      const r = await ctx.client().request(contract.enableWebhook, { params: { id }, body: {} });
      return r.changed ? `webhook ${id} enabled` : `webhook ${id} was already enabled`;
    },
  );
}

function disableWebhookCommand(webhooks: Command, ctx: CliContext): void {
  webhooks
    .command('disable <id>')
    .description('stop delivering to an endpoint; deliveries still open are abandoned')
    .option('--reason <text>', 'why, shown by webhooks list')
    .addHelpText('after', '\nExample:\n  tillbridge-hub webhooks disable wh_3k9x2m7q1a --reason "ERP maintenance"')
    .action(
      act(async (id: string, opts: { reason?: string }) => {
        const body = opts.reason ? { reason: opts.reason } : {};
        const r = await ctx.client().request(contract.disableWebhook, { params: { id }, body });
        process.stdout.write(r.changed ? `webhook ${id} disabled\n` : `webhook ${id} was already disabled\n`);
      }),
    );
}
