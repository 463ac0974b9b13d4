import { examplesHelp } from '../format.js';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Writable } from 'node:stream';
import type { Command } from 'commander';
import { TbCodes, TbError } from '@tillbridge/shared';
import { checkExportTarget } from '../../feed/poslog-export.js';
import { act, type CliContext } from '../context.js';

/**
 * Writes through to `dest` (waiting when it is full) and keeps the last characters that passed,
 * to check the document was answered whole; `endDest`: end `dest` at the end, and wait for it.
 */
function sinkTo(dest: Writable, endDest: boolean): { sink: Writable; tail: () => string } {
  let tail = '';
  const sink = new Writable({
    write(c: Buffer, _enc, next) {
      tail = (tail + c.toString('latin1')).slice(-64);
      if (dest.write(c)) next();
      else dest.once('drain', () => next());
    },
    final(done) {
      if (!endDest) {
        done();
        return;
      }
      dest.once('error', done);
      dest.end(() => done());
    },
  });
  dest.on('error', (err) => sink.destroy(err));
  return { sink, tail: () => tail };
}

function complete(tail: string): void {
  if (!/<\/POSLog>\s*$/.test(tail))
    throw new TbError(TbCodes.INTERNAL, 'the hub ended the export before the document was complete; run it again');
}

/**
 * `poslog --store S --day D [--out FILE]` under `parent` (the integrator's `tillbridge-hub feed`):
 * a store's business day from the ERP feed as an ARTS POSLog document (docs/erp-feed.md, "POSLog export of a business
 * day").
 * With --out the file appears only once the whole document has arrived.
 */
export function feedPoslogCommand(parent: Command, ctx: CliContext): Command {
  return parent
    .command('poslog')
    .description(
      "a store's business day (sales and completed returns) as an ARTS POSLog XML document, for back " +
        'offices that import POSLog',
    )
    .requiredOption('--store <store>', 'the store')
    .requiredOption('--day <day>', "the business day, YYYY-MM-DD (the date in the store's time zone)")
    .option('--out <file>', 'write the document to this file (default: standard output)')
    .addHelpText(
      'after',
      examplesHelp(
        'tillbridge-hub feed poslog --store S001 --day 2026-11-27 --out S001-2026-11-27.xml',
        'tillbridge-hub feed poslog --store S001 --day 2026-11-27 > day.xml',
      ),
    )
    .action(
      act(async (opts: { store: string; day: string; out?: string }) => {
        const { store, day } = checkExportTarget(opts.store, opts.day);
        const path = `/v1/admin/feed/poslog?${new URLSearchParams({ store, day }).toString()}`;
        const client = ctx.client();
        if (opts.out === undefined || opts.out === '-') {
          const out = sinkTo(process.stdout, false);
          await client.download(path, out.sink);
          complete(out.tail());
          return;
        }
        // the file appears whole or not at all: written beside it, renamed when complete
        const part = `${opts.out}.part`;
        const file = createWriteStream(part, { mode: 0o640 });
        const out = sinkTo(file, true);
        try {
          const bytes = await client.download(path, out.sink);
          complete(out.tail());
          await rename(part, opts.out);
          process.stderr.write(`wrote ${opts.out} (${bytes} bytes): POSLog of store ${store}, business day ${day}\n`);
        } catch (err) {
          file.destroy();
          await rm(part, { force: true });
          throw err;
        }
      }),
    );
}
