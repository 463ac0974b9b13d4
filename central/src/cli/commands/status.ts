import { ago, table } from '../format.js';
import { act, print, type CliContext } from '../context.js';

export function statusCommands(ctx: CliContext): void {
  const { program } = ctx;
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
        type Rate = { total: number; successRate: number | null; onlineRate: number | null; lateOnline: number; failed: number; tickets: { online: Record<string, number>; offline: Record<string, number> } };
        type St = {
          connectedStores: number;
          authorizations: Rate;
          stores: { store: string; connected: boolean; lastSeen: string | null; lagMs: number | null; outboxDepth: number | null; lastSeq: number; policy: { version: number; agentHolds: number | null }; authorizations: Rate; terminals: Term[] }[];
        };
        const pct = (v: number | null): string => (v === null ? '-' : `${(v * 100).toFixed(1)} %`);
        const grades = (t: Record<string, number>): string => Object.entries(t).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
        const q = opts.store ? `?store=${encodeURIComponent(opts.store)}` : '';
        const r = await ctx.client().get<St>(`/v1/admin/status${q}`);
        print(opts.json, r, () => {
          const a = r.authorizations;
          const out = [
            opts.store ? '' : `${r.connectedStores} of ${r.stores.length} store(s) connected`,
            table(
              ['STORE', 'CONNECTED', 'LAST SEEN', 'LAG', 'OUTBOX', 'LAST SEQ', 'POLICY (AGENT)', 'AUTH OK', 'ONLINE'],
              r.stores.map((s) => [s.store, s.connected ? 'yes' : 'NO', s.connected ? 'now' : ago(s.lastSeen), s.lagMs === null ? '-' : `${s.lagMs} ms`, s.outboxDepth, s.lastSeq, `v${s.policy.version} (${s.policy.agentHolds === null ? '-' : `v${s.policy.agentHolds}`})`, pct(s.authorizations.successRate), pct(s.authorizations.onlineRate)]),
            ),
            '',
            `return authorizations: ${a.total} request(s); answered within the deadline ${pct(a.successRate)} (online ${pct(a.onlineRate)}); hub too late ${a.lateOnline}; unanswered ${a.failed}`,
            `  online:  ${grades(a.tickets.online)}`,
            `  offline: ${grades(a.tickets.offline)}`,
          ].filter((x, i) => !(i === 0 && x === ''));
          if (opts.store) {
            const terms = r.stores[0]?.terminals ?? [];
            out.push('', terms.length ? table(['REGISTER', 'STATE', 'TRANSPORT', 'CONNS', 'REPORTED', 'LAST MESSAGE', 'SINCE', 'DETAIL'], terms.map((t) => [t.register, t.state, t.transport, t.connections, t.reported ? `${t.reported.state}${t.reported.detail ? ` (${t.reported.detail})` : ''}` : '', t.lastMessageAt ? ago(t.lastMessageAt) : 'never', t.at, t.detail])) : 'no register has reported yet');
          }
          return out.join('\n');
        });
      }),
    );
}
