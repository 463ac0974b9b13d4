import { examplesHelp } from '../format.js';
import { TbCodes, TbError } from '@tillbridge/shared/errors';
import { minAgentVersion, setMinAgentVersion } from '../../http/contract/stores.js';
import { act, print, type CliContext } from '../context.js';

/**
 * `tillbridge-hub stores min-version [VERSION] [--clear]`: the lowest agent version wanted.
 * Agents below it are flagged in `status` and `stores list` (they keep working); audited
 * (`config.min_agent_version`). docs/upgrade.md.
 */
export function agentVersionCommands(ctx: CliContext): void {
  const stores =
    ctx.program.commands.find((c) => c.name() === 'stores') ??
    ctx.program.command('stores').description('stores and their API keys');
  stores
    .command('min-version [version]')
    .description('show or set the lowest agent version wanted: agents below it are flagged in status and stores list')
    .option('--clear', 'no minimum')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      examplesHelp(
        'tillbridge-hub stores min-version',
        'tillbridge-hub stores min-version 0.2.0',
        'tillbridge-hub stores min-version --clear',
      ),
    )
    .action(
      act(async (version: string | undefined, opts: { clear?: boolean; json?: boolean }) => {
        if (version !== undefined && opts.clear)
          throw new TbError(TbCodes.INVALID, 'give a version or --clear, not both');
        if (version === undefined && !opts.clear) {
          const r = await ctx.client().request(minAgentVersion);
          print(opts.json, r, () =>
            r.minAgentVersion ? `minimum agent version: ${r.minAgentVersion}` : 'no minimum agent version set',
          );
          return;
        }
        const r = await ctx.client().request(setMinAgentVersion, { body: { version: opts.clear ? null : version } });
        const was = `was ${r.previous ?? 'none'}`;
        const text = r.minAgentVersion
          ? `minimum agent version is now ${r.minAgentVersion} (${was}); agents below it are flagged in status`
          : `no minimum agent version (${was})`;
        print(opts.json, r, () => text);
      }),
    );
}
