import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { Option, type Command } from 'commander';
import { TbCodes, TbError } from '@tillbridge/shared';
import { ackFeed, listFeedConsumers, readFeed, removeFeedConsumer, type feedEntry } from '../../http/contract/feed.js';
import type * as z from 'zod/mini';

type FeedEntry = z.output<typeof feedEntry>;
import { table } from '../format.js';
import { act, askCommand, exampledCommand, print, storeFilter, type CliContext } from '../context.js';

interface FilterOpts {
  store?: string;
  type?: string;
  day?: string;
}

function whole(v: string, what: string): number;
function whole(v: string | undefined, what: string): number | undefined;
function whole(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v))
    throw new TbError(TbCodes.INVALID, `${what}: expected a whole number 0 or more, got ${JSON.stringify(v)}`);
  return Number(v);
}

/** A field of an entry's data as text, `none` when it is absent. */
function shown(v: unknown, none: string): string {
  if (v === undefined || v === null) return none;
  return typeof v === 'string' ? v : JSON.stringify(v); // a number or true/false the same as String()
}

/** One line for a person: position, when, type, store, business day, id, and what it is about. */
function line(e: FeedEntry): string {
  const d = e.data;
  const about =
    e.type === 'sale.recorded'
      ? `receipt ${String(d.receipt)} total ${String(d.total)} ${String(d.currency)}`
      : e.type.startsWith('return.')
        ? `return ${shown(d.authorization, '-')} ${shown(d.status ?? d.code, '')}`.trimEnd()
        : e.type === 'inventory.adjusted'
          ? `${String(d.sku)} ${Number(d.delta) > 0 ? '+' : ''}${String(d.delta)} → ${String(d.onHand)} ` +
            `(${String(d.kind)})`
          : `register ${shown(d.register, '-')} ${shown(d.status, '')}`.trimEnd();
  return [e.position, e.at, e.type, e.store ?? '-', e.businessDay ?? '-', e.id, about].join('  ');
}

const filterOf = (opts: FilterOpts): FilterOpts => ({ store: opts.store, type: opts.type, day: opts.day });

/** Which entries a subcommand reads: of a store, of some event types, of a business day. */
const filterOptions = (): Option[] => [
  storeFilter("only this store's entries"),
  new Option('--type <types>', 'only these event types (comma-separated, e.g. sale.recorded,return.completed)'),
  new Option('--day <date>', "only entries of this business day (YYYY-MM-DD, in each store's time zone)"),
];

/** `tillbridge-hub feed …`: the ERP feed (docs/erp-feed.md). */
export function feedCommands(ctx: CliContext): Command {
  const feed = ctx.program
    .command('feed')
    .description(
      'the ERP feed: every validated transaction and its consequences, in order (pull, export, consumer cursors)',
    );

  feedTailCommand(feed, ctx);
  feedExportCommand(feed, ctx);
  feedConsumerCommands(feed, ctx);
  return feed;
}

/** `feed tail`: entries after a position, once or following. */
function feedTailCommand(feed: Command, ctx: CliContext): void {
  exampledCommand(feed, 'tail', {
    description: "entries after a position (or after a consumer's acknowledged one); --follow waits for new ones",
    options: [
      new Option('--after <position>', "start after this position (default: the consumer's, else the start)"),
      new Option(
        '--consumer <name>',
        'start after what this consumer acknowledged (tail never acknowledges: use `feed ack`)',
      ),
      new Option('--limit <n>', 'entries per request (1–1000)').default('100'),
      new Option('--follow', 'keep waiting for new entries (long polling) until interrupted'),
      new Option('--json', 'one JSON entry per line'),
      ...filterOptions(),
    ],
    examples: ['feed tail --after 0 --limit 20', 'feed tail --consumer erp-sales --type sale.recorded --follow --json'],
  }).action(
    act(
      async (
        opts: FilterOpts & { after?: string; consumer?: string; limit: string; follow?: boolean; json?: boolean },
      ) => {
        let after = whole(opts.after, '--after');
        const limit = whole(opts.limit, '--limit');
        const interrupted = new AbortController();
        const interrupt = (): void => interrupted.abort();
        process.once('SIGINT', interrupt);
        process.once('SIGTERM', interrupt);
        try {
          do {
            const consumer = after === undefined ? opts.consumer : undefined;
            const wait = opts.follow ? 25 : undefined;
            const filter = filterOf(opts);
            const page = await ctx.client().request(readFeed, { query: { after, limit, consumer, wait, ...filter } });
            for (const e of page.entries) process.stdout.write(`${opts.json ? JSON.stringify(e) : line(e)}\n`);
            after = page.next;
          } while (opts.follow && !interrupted.signal.aborted);
        } finally {
          process.off('SIGINT', interrupt);
          process.off('SIGTERM', interrupt);
        }
      },
    ),
  );
}

/** `feed export`: every entry between two positions, as JSON lines. */
function feedExportCommand(feed: Command, ctx: CliContext): void {
  exampledCommand(feed, 'export', {
    description:
      "every entry after a position up to another, as JSON lines (for a back office's batch import or a replay)",
    options: [
      new Option('--after <position>', 'start after this position').default('0'),
      new Option('--to <position>', 'stop at this position (default: the head when the export starts)'),
      new Option('--out <file>', 'write to this file (default: standard output)'),
      ...filterOptions(),
    ],
    examples: [
      'feed export --day 2026-11-30 --store S001 --out S001-2026-11-30.jsonl',
      'feed export --after 120000 --to 130000 > replay.jsonl',
    ],
  }).action(
    act(async (opts: FilterOpts & { after: string; to?: string; out?: string }) => {
      let after = whole(opts.after, '--after');
      let to = whole(opts.to, '--to');
      const out = opts.out ? createWriteStream(opts.out) : process.stdout;
      let count = 0;
      for (;;) {
        const filter = filterOf(opts);
        const page = await ctx.client().request(readFeed, { query: { after, limit: 1000, ...filter } });
        to ??= page.head;
        for (const e of page.entries) {
          if (e.position > to) break;
          if (!out.write(`${JSON.stringify(e)}\n`)) await once(out, 'drain');
          count++;
        }
        if (page.next >= to || page.next === after) break;
        after = page.next;
      }
      if (out !== process.stdout) {
        out.end();
        await once(out, 'finish');
      }
      process.stderr.write(`${count} entries exported, up to position ${to}\n`);
    }),
  );
}

/** `feed ack`, `consumers` and `forget`: the consumers' cursors. */
function feedConsumerCommands(feed: Command, ctx: CliContext): void {
  askCommand(ctx, feed, 'ack <consumer> <position>', {
    description:
      'the consumer handled every entry up to this position: it resumes after it ' +
      '(`feed tail --consumer`, GET /v1/feed?consumer=)',
    options: [new Option('--rewind', 'allow going back (replay from an earlier position; needs an admin token)')],
    examples: ['feed ack erp-sales 120344'],
    route: ackFeed,
    request: (consumer: string, position: string, opts: { rewind?: boolean }) => ({
      params: { name: consumer },
      body: { position: whole(position, 'position'), rewind: Boolean(opts.rewind) },
    }),
    text: (r) => `consumer ${r.name} is at ${r.position} (${r.lag} behind the head)`,
  });

  feed
    .command('consumers')
    .description('named consumers: where each is, and how far behind the head (lag)')
    .option('--json', 'print JSON')
    .action(
      act(async (opts: { json?: boolean }) => {
        const r = await ctx.client().request(listFeedConsumers);
        print(opts.json, r, () =>
          r.length === 0
            ? 'no feed consumers yet (a consumer appears at its first ack)'
            : table(
                ['CONSUMER', 'POSITION', 'LAG', 'SINCE', 'LAST ACK'],
                r.map((c) => [c.name, c.position, c.lag, c.createdAt, c.updatedAt]),
              ),
        );
      }),
    );

  feed
    .command('forget <consumer>')
    .description("remove a consumer's cursor (it starts from the beginning if it comes back)")
    .action(
      act(async (consumer: string) => {
        await ctx.client().request(removeFeedConsumer, { params: { name: consumer } });
        process.stdout.write(`consumer ${consumer} forgotten\n`);
      }),
    );
}
