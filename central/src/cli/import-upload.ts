import { createReadStream, statSync } from 'node:fs';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isTbError, newId, TbCodes, TbError } from '@tillbridge/shared';
import type * as z from 'zod/mini';
import { parseAnswer, type AdminClient } from './admin-client.js';
import type { RouteContract } from '../http/contract/route.js';
import { Progress } from './progress.js';
import { showImport } from '../http/contract/imports.js';
import type { ResponseOf } from '../http/contract/route.js';

/** What the hub says of an import (`GET /v1/admin/imports/:id`). */
type ImportState = ResponseOf<typeof showImport>;

const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;
const count = (n: number): string => n.toLocaleString('en-US');

function describe(p: ImportState): string {
  const where = p.appliedThroughLine === undefined ? '' : ` (through line ${p.appliedThroughLine})`;
  const state = p.state === 'applying' ? 'stopping at its next transaction' : p.state;
  return `${state}: ${count(p.applied)} of ${p.rows === undefined ? '?' : count(p.rows)} rows applied${where}`;
}

/**
 * Sends a file to an import endpoint as a stream (never read whole), under an id of our own so
 * that, on a terminal, the bar follows the hub: bytes sent, then bytes and rows checked, then
 * rows applied as the hub commits them. Resolves with the hub's answer.
 */
export async function uploadImport<Response extends z.ZodMiniType>(
  client: AdminClient,
  contract: RouteContract<string, z.ZodMiniType, Response>,
  file: string,
  contentType: string,
  stream: NodeJS.WriteStream = process.stderr,
  pollMs = 250,
): Promise<z.output<Response>> {
  let size: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new Error('not a file');
    size = st.size;
  } catch (err) {
    throw new TbError(TbCodes.INVALID, `cannot read ${file}: ${(err as Error).message}`);
  }
  const id = newId();
  const name = basename(file);
  const sending = new Progress(`${name}: sending`, size, stream, mb);
  let checking: Progress | undefined;
  let applying: Progress | undefined;
  let hub: ImportState | undefined;
  let sent = 0;
  const finished = new AbortController(); // aborted when the upload is over
  const draw = (): void => {
    if (finished.signal.aborted) return;
    if (hub?.state === 'checking') {
      checking ??= new Progress(`${name}: checking`, hub.bytesReceived, stream, mb);
      checking.update(
        hub.bytesChecked,
        `${count(hub.rowsRead)} rows${hub.badRows > 0 ? `, ${count(hub.badRows)} bad` : ''}`,
      );
    } else if (hub && hub.state !== 'receiving' && hub.rows !== undefined) {
      applying ??= new Progress(`${name}: applying`, hub.rows, stream, count);
      applying.update(hub.applied, `${count(hub.transactions)} transaction(s)`);
    } else {
      sending.update(sent);
    }
  };
  const follow = sending.active
    ? (async () => {
        while (!finished.signal.aborted) {
          // not there yet: the request is on its way
          hub = await client.request(showImport, { params: { id } }).catch(() => hub);
          draw();
          await sleep(pollMs);
        }
      })()
    : undefined;
  const body = createReadStream(file);
  try {
    const answer = await client.upload<unknown>(`${contract.path}?id=${id}`, body, contentType, size, (s) => {
      sent = s;
      draw();
    });
    return parseAnswer(contract, answer);
  } catch (err) {
    if (!isTbError(err, TbCodes.HUB_UNAVAILABLE)) throw err;
    // the answer is lost; the import may not be: say what the hub knows of it
    const p = await client.request(showImport, { params: { id } }).catch(() => undefined);
    if (p)
      throw new TbError(
        TbCodes.IMPORT_INCOMPLETE,
        `the connection to the hub was lost during import ${id}, which is ${describe(p)}. Run the same ` +
          `file again to finish it: rows already applied change nothing`,
        { cause: err },
      );
    throw new TbError(
      TbCodes.HUB_UNAVAILABLE,
      `${err.message} (import ${id}: what the hub applied of it, if anything, is in its audit log as ` +
        `import:${id}; running the same file again is safe)`,
      { cause: err },
    );
  } finally {
    finished.abort();
    body.destroy();
    await follow;
    sending.done(); // (one line: clearing it clears whichever bar was drawn last)
  }
}
