import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { onHand, returnsList } from '@tillbridge/scripts/lib/cluster';
import { ROOT } from '@tillbridge/scripts/lib/paths';
import { startPtyPair, type PtyPair } from '@tillbridge/scripts/lib/pty';
import { StxRegister, stxFrame } from '@tillbridge/scripts/lib/stx-register';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { worldForFile } from './fixture.js';

/**
 * A legacy cash register on RS-232 — simulated on a real pseudo-terminal pair made by socat —
 * speaking |-delimited records in STX/ETX+LRC frames (installers/profiles/acme-ecr-400-delimited.json),
 * through the real agent process to the real hub.
 */
let pty: PtyPair;
let ptyDir: string;
const w = worldForFile({
  clockStart: '2026-11-28T10:00:00Z', // the sales below are dated: the processes' clocks are too
  stores: ['S1'],
  stock: { S1: { 'TEE-BLUE-M': 10 } },
  startHub: async (w) => {
    ptyDir = join(w.dir, 'pty');
    mkdirSync(ptyDir);
    pty = await startPtyPair(ptyDir);
    return w.startHub();
  },
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- unset if the set-up failed first
  beforeClose: async () => pty?.close(),
});

interface Term {
  register: string;
  state: string;
  transport: string;
}
const terminal = async (): Promise<Term | undefined> =>
  (JSON.parse((await w.hub.cli(['status', '--store', 'S1', '--json'])).stdout).stores[0].terminals as Term[])[0];

describe('a legacy serial register (STX/ETX+LRC, delimited records) end to end', () => {
  it(
    'sells and returns through the agent to the hub; a bad LRC ' +
      'gets NAK and the retransmission succeeds; unplug and replug',
    async () => {
      const agent = await w.startAgent('S1', 'serial', {
        registers: [
          {
            id: 'ECR1',
            transport: { type: 'serial', path: pty.a, baudRate: 9600, reconnectBaseMs: 50, reconnectCapMs: 300 },
            framing: { type: 'stx-etx', lrc: true },
            codec: { type: 'delimited', profile: join(ROOT, 'installers', 'profiles', 'acme-ecr-400-delimited.json') },
          },
        ],
      });
      await waitFor('ECR1 connected at the hub', async () => (await terminal())?.state === 'connected');
      let ecr = await StxRegister.open(pty.b);

      // a sale, first with a corrupted LRC: NAK, nothing recorded; then the same frame intact
      const SALE = 'S|000500|0001-000500|20261127|1015|EUR|1|TEE-BLUE-M|2000|1999|1|02|3998|4111111111111111';
      expect(await ecr.sendRaw(stxFrame(SALE, true))).toEqual({ control: 'NAK' });
      expect(await ecr.send(SALE)).toEqual({ control: 'ACK', reply: 'A|000500' });
      // the register never saw our ACK and sends again: the same answer, one sale
      expect(await ecr.send(SALE)).toEqual({ control: 'ACK', reply: 'A|000500' });
      await waitFor('the sale at the hub', async () => (await onHand(w.hub, 'S1', 'TEE-BLUE-M')) === 8);
      const stored = w.hubQuery<{ tenders: string }>(`SELECT tenders FROM sales WHERE receipt = '0001-000500'`);
      expect(stored).toHaveLength(1);
      expect(stored[0]!.tenders).toContain('411111******1111');
      expect(stored[0]!.tenders).not.toContain('4111111111111111');

      // a return of one T-shirt, approved online, then completed
      const d = await ecr.send('R|000501|0001-000500|1|1|1000|01|R');
      const [, id, auth, decision, mode, , n, line, qty, code] = d.reply!.split('|');
      expect({ id, decision, mode, n, line, qty, code }).toEqual({
        id: '000501',
        decision: 'A',
        mode: 'N',
        n: '1',
        line: '1',
        qty: '001000',
        code: '00',
      });
      // the sale was paid by card: the policy allows a refund to the card (or store credit), not cash
      expect((await ecr.send(`C|000502|${auth}|01|1999||1|1|1000`)).reply).toMatch(
        /^E\|000502\|11\|refund.kind: expected one of card/,
      );
      expect((await ecr.send(`C|000503|${auth}|02|1999||1|1|1000`)).reply).toBe('A|000503');
      await waitFor('the restock at the hub', async () => (await onHand(w.hub, 'S1', 'TEE-BLUE-M')) === 9);
      expect((await returnsList(w.hub, 'S1')).find((r) => r.authorization === auth)).toMatchObject({
        status: 'completed',
        mode: 'online',
      });

      // unplug: the cable (pty) goes away; the hub sees the register disconnected
      await ecr.close();
      await pty.close();
      await waitFor('ECR1 disconnected at the hub', async () => (await terminal())?.state === 'disconnected', 10_000);
      // replug: the same port comes back; the agent reopens it by itself
      pty = await startPtyPair(ptyDir);
      await waitFor('ECR1 connected again', async () => (await terminal())?.state === 'connected', 10_000);
      ecr = await StxRegister.open(pty.b);
      expect(await ecr.send('S|000504|0001-000504|20261127|1020|EUR|1|TEE-BLUE-M|1000|1999|1|01|1999|')).toEqual({
        control: 'ACK',
        reply: 'A|000504',
      });
      await waitFor('the new sale at the hub', async () => (await onHand(w.hub, 'S1', 'TEE-BLUE-M')) === 8);
      await ecr.close();
      await agent.proc.stop();
    },
  );
});
