import { setTimeout as sleep } from 'node:timers/promises';
import { TbCodes, TbError } from '@tillbridge/shared';
import { ago, describeAgentLine, durationOption, examplesHelp, table } from '../format.js';
import { hubStatus } from '../../http/contract/status.js';
import type { ResponseOf } from '../../http/contract/route.js';
import { act, topCommand, print, type CliContext } from '../context.js';

export type HubStatus = ResponseOf<typeof hubStatus>;

const pct = (v: number | null): string => (v === null ? '-' : `${(v * 100).toFixed(1)} %`);
const grades = (t: Record<string, number>): string =>
  Object.entries(t)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ') || 'none';
const held = (hub: number, agent: number | null): string => `v${hub} (${agent === null ? '-' : `v${agent}`})`;

/** Each connected agent's version, protocol, OS and uptime; those below the minimum version flagged. */
function agentLines(r: HubStatus): string[] {
  const connected = r.stores.flatMap((s) => (s.agent ? [{ store: s.store, agent: s.agent }] : []));
  const below = connected.filter((s) => s.agent.belowMinimum).length;
  const out = connected.map((s) => `agent ${s.store}: ${describeAgentLine(s.agent, r.minAgentVersion)}`);
  if (r.minAgentVersion)
    out.push(
      `minimum agent version ${r.minAgentVersion}: ` +
        (below === 0
          ? 'every connected agent meets it'
          : `${below} connected agent(s) BELOW it: upgrade them (docs/upgrade.md)`),
    );
  return out.length > 0 ? [...out, ''] : [];
}

/** The webhooks, the ERP feed's consumers and its broker relay. */
function webhookAndFeedLines(r: HubStatus): string[] {
  const { webhooks: w, feed } = r;
  const disabled = w.disabled.map((d) => `${d.id} ${d.url}${d.reason ? ` (${d.reason})` : ''}`);
  const consumers = feed.consumers.map((x) => `${x.name} ${x.lag} behind (last ack ${ago(x.updatedAt)})`);
  const out = [
    `webhooks: ${w.endpoints} endpoint(s)${disabled.length ? `; DISABLED: ${disabled.join('; ')}` : ', none disabled'}`,
    `ERP feed: head ${feed.head}; ${consumers.length ? `consumers: ${consumers.join(', ')}` : 'no consumers'}`,
  ];
  if (r.feedRelay) {
    const f = r.feedRelay;
    const who = f.relaying
      ? 'this process relays'
      : f.lease
        ? `relayed by ${f.lease.holder} (lease until ${f.lease.until})`
        : 'no process holds the lease';
    out.push(
      `feed relay: ${f.exchange} ` +
        `on ${f.broker}: ${f.connected ? 'connected' : 'NOT CONNECTED'}; ${who}; lag ${f.lag} ` +
        `(at ${f.position} of ${f.head}); ${f.relayed} relayed here` +
        (f.lastError ? `; last error ${f.lastError.at}: ${f.lastError.message}` : ''),
    );
  }
  return out;
}

/** The text `tillbridge-hub status` prints (one screen; --watch redraws it). */
export function formatHubStatus(r: HubStatus, oneStore: boolean): string {
  const a = r.authorizations;
  const out: string[] = [];
  if (!oneStore) out.push(`${r.connectedStores} of ${r.stores.length} store(s) connected  (at ${r.now})`);
  out.push(
    table(
      [
        'STORE',
        'CONNECTED',
        'LAST SEEN',
        'LAG',
        'OUTBOX',
        'LAST SEQ',
        'POLICY (AGENT)',
        'SETTINGS (AGENT)',
        'INVENTORY OK',
        'AUTH OK',
        'ONLINE',
      ],
      r.stores.map((s) => [
        s.store,
        s.connected ? 'yes' : 'NO',
        s.connected ? 'now' : ago(s.lastSeen),
        s.lagMs === null ? '-' : `${s.lagMs} ms`,
        s.outboxDepth,
        s.lastSeq,
        held(s.policy.version, s.policy.agentHolds),
        held(s.settings.version, s.settings.agentRuns),
        s.inventoryAccuracy ? `${pct(s.inventoryAccuracy.ratio)} of ${s.inventoryAccuracy.skus}` : '-',
        pct(s.authorizations.successRate),
        pct(s.authorizations.onlineRate),
      ]),
    ),
    '',
    ...agentLines(r),
    `return authorizations: ${a.total} request(s); answered within the ` +
      `deadline ${pct(a.successRate)} (online ${pct(a.onlineRate)}); hub too late ${a.lateOnline}; ` +
      `unanswered ${a.failed}`,
    `  online:  ${grades(a.tickets.online)}`,
    `  offline: ${grades(a.tickets.offline)}`,
  );
  out.push(...webhookAndFeedLines(r));
  if (oneStore) {
    const terms = r.stores[0]?.terminals ?? [];
    out.push(
      '',
      terms.length
        ? table(
            ['TERMINAL', 'KIND', 'CODEC', 'STATE', 'TRANSPORT', 'CONNS', 'REPORTED', 'LAST MESSAGE', 'SINCE', 'DETAIL'],
            terms.map((t) => [
              t.register,
              t.feeds ? `${t.kind} (${t.feeds})` : t.kind,
              t.codec ?? '?',
              t.state,
              t.transport,
              t.connections,
              t.reported ? `${t.reported.state}${t.reported.detail ? ` (${t.reported.detail})` : ''}` : '',
              t.lastMessageAt ? ago(t.lastMessageAt) : 'never',
              t.at,
              t.detail,
            ]),
          )
        : 'no register has reported yet',
    );
  }
  return out.join('\n');
}

export function statusCommands(ctx: CliContext): void {
  topCommand(
    ctx,
    'status',
    'each store: connected, lag, outbox, policy and settings versions, inventory accuracy, authorization rate; ' +
      'with --store, its registers too',
  )
    .option('--store <store>', 'one store, with the state of each of its registers')
    .option(
      '--watch [interval]',
      'redraw every interval (default 2s) until Ctrl-C; with --json, one JSON line per refresh',
    )
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      examplesHelp(
        'tillbridge-hub status',
        'tillbridge-hub status --store S001 --json',
        'tillbridge-hub status --watch 5s',
      ),
    )
    .action(
      act(async (opts: { store?: string; json?: boolean; watch?: string | boolean }) => {
        const fetchStatus = (): Promise<HubStatus> => ctx.client().request(hubStatus, { query: { store: opts.store } });
        if (opts.watch === undefined) {
          const r = await fetchStatus();
          print(opts.json, r, () => formatHubStatus(r, !!opts.store));
          return;
        }
        const every = typeof opts.watch === 'string' ? durationOption(opts.watch, '--watch') : 2000;
        if (every < 200) throw new TbError(TbCodes.INVALID, '--watch: the interval must be at least 200ms');
        const tty = process.stdout.isTTY && !opts.json;
        const stop = new AbortController();
        process.once('SIGINT', () => stop.abort());
        process.once('SIGTERM', () => stop.abort());
        while (!stop.signal.aborted) {
          let text: string;
          try {
            const r = await fetchStatus();
            text = opts.json ? JSON.stringify(r) : formatHubStatus(r, !!opts.store);
          } catch (err) {
            // a hub restarting is what one watches for: say so, keep watching (when: the operator's clock)
            text = opts.json
              ? JSON.stringify({ error: (err as Error).message, at: new Date().toISOString() })
              : `hub unreachable: ${(err as Error).message}`;
          }
          // in place on a terminal (cursor home, clear); otherwise one snapshot after another
          process.stdout.write(
            tty
              ? `\x1b[H\x1b[2J${text}\n\n(every ${every / 1000}s; Ctrl-C to stop)\n`
              : `${text}\n${opts.json ? '' : '\n'}`,
          );
          await sleep(every, undefined, { signal: stop.signal }).catch(() => undefined);
        }
      }),
    );
}
