import { AuditLog, type VerifyResult } from '../../domain/audit-log.js';
import { systemClock } from '../../domain/clock.js';
import { openHubStorage } from '../../storage/sqlite.js';
import { table } from '../format.js';
import { act, EXIT, print, type CliContext } from '../context.js';

export function auditCommands(ctx: CliContext): void {
  const { program } = ctx;
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
          r = await ctx.client().get<VerifyResult>('/v1/admin/audit/verify');
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
        const r = await ctx.client().get<E[]>(`/v1/admin/audit?limit=${Number(opts.lines) || 20}`);
        print(opts.json, r, () => table(['ID', 'AT', 'ACTOR', 'ACTION', 'STORE', 'REGISTER', 'OUTCOME', 'RESOURCE'], r.map((e) => [e.id, e.at, e.actor, e.action, e.store, e.register, e.outcome, e.resource])));
      }),
    );
}
