import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { World } from './fixture.js';

/**
 * Many stores reach the hub from one address (a NAT, a VPN concentrator): here every store, every
 * agent and every bad request comes from 127.0.0.1, to the real hub binary over real HTTP.
 */

let w: World | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

interface Answer {
  status: number;
  retryAfter: string | null;
  body: { accessToken?: string; code?: string; details?: { retryAfterSec?: number } };
}

async function token(world: World, store: string, apiKey: string): Promise<Answer> {
  const r = await fetch(`${world.hub.url}/v1/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ store, apiKey }),
  });
  return { status: r.status, retryAfter: r.headers.get('retry-after'), body: (await r.json()) as Answer['body'] };
}

const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `S${String(i + 1).padStart(3, '0')}`);

describe('stores behind one address', () => {
  it(
    '100 stores from one address all get tokens, also while ' + 'that address is blocked for the bad keys it sent',
    async () => {
      w = new World();
      await w.startHub();
      for (const id of ids(100)) await w.addStore(id);
      const world = w;

      // a reconnect storm: every store asks twice, all at once
      const storm = await Promise.all(
        ids(100).flatMap((id) => [token(world, id, world.keys.get(id)!), token(world, id, world.keys.get(id)!)]),
      );
      expect(storm.filter((a) => a.status === 200 && a.body.accessToken)).toHaveLength(200);

      // something at the same address guesses keys: 401, then 429 with Retry-After and a stable code
      const junk: Answer[] = [];
      for (let i = 0; i < 15; i++) junk.push(await token(world, i % 2 ? 'S001' : 'NOPE', `tbk_wrong_${i}`));
      expect(junk.slice(0, 9).map((a) => a.status)).toEqual(Array(9).fill(401));
      for (const a of junk.slice(9)) {
        expect(a.status).toBe(429);
        expect(a.body.code).toBe('TB_RATE_LIMITED');
        expect(Number(a.retryAfter)).toBeGreaterThan(0);
        expect(a.body.details?.retryAfterSec).toBe(Number(a.retryAfter));
      }

      // the valid stores of that address carry on — but not S001, whose key it was guessing at,
      // until the block ends (a try at a guessed-at key is refused unchecked)
      const after = await Promise.all(ids(100).map((id) => token(world, id, world.keys.get(id)!)));
      expect(after.filter((a) => a.status === 200)).toHaveLength(99);
      expect(after[0]).toMatchObject({ status: 429, body: { code: 'TB_RATE_LIMITED' } });

      // a real agent from that address connects (token and WebSocket upgrade), and an operator's token works
      const agent = await w.startAgent('S002');
      expect(agent.proc.lines.some((l) => l.msg === 'connected to the hub')).toBe(true);
      expect(
        (await fetch(`${w.hub.url}/v1/admin/stores`, { headers: { authorization: `Bearer ${w.adminToken}` } })).status,
      ).toBe(200);
      // what carries no credential is refused from the blocked address, with Retry-After
      const bare = await fetch(`${w.hub.url}/metrics`);
      expect(bare.status).toBe(429);
      expect(Number(bare.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await fetch(`${w.hub.url}/healthz`)).status).toBe(200);
    },
  );

  it(
    '--token-limit: a store past its allowance is answered ' + '429 with Retry-After; the other stores are not',
    async () => {
      w = new World();
      await w.startHub(undefined, ['--token-limit', '2/10m']);
      await w.addStore('S1');
      await w.addStore('S2');
      const k1 = w.keys.get('S1')!;
      expect((await token(w, 'S1', k1)).status).toBe(200);
      expect((await token(w, 'S1', k1)).status).toBe(200);
      const refused = await token(w, 'S1', k1);
      expect(refused).toMatchObject({ status: 429, body: { code: 'TB_RATE_LIMITED' } });
      // one token back every 5 minutes: that is what it is told to wait, at most
      expect(Number(refused.retryAfter)).toBeGreaterThan(0);
      expect(Number(refused.retryAfter)).toBeLessThanOrEqual(300);
      expect((await token(w, 'S2', w.keys.get('S2')!)).status).toBe(200);
      // a malformed request is a failure of its address (not yet blocked: 400), never a crash
      const junk = await fetch(`${w.hub.url}/v1/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: 'null',
      });
      expect(junk.status).toBe(400);
      const audit = w.hubQuery<{ action: string; store: string }>(
        `SELECT action, store FROM audit WHERE action = 'auth.rate_limited'`,
      );
      expect(audit).toEqual([{ action: 'auth.rate_limited', store: 'S1' }]);
    },
  );

  it(
    'a real agent refused a token waits for Retry-After: each ' +
      'refusal is followed by a token, never by another refusal',
    async () => {
      // one token per store at a time, back after 5 s; the agent refreshes 1 s into a 10 s token, so
      // every refresh but those after a wait is refused. Without honouring Retry-After it would ask
      // again 2 s later, inside the same refusal, and be refused twice in a row.
      w = new World();
      await w.startHub(undefined, ['--token-limit', '1/5s', '--token-ttl', '10s']);
      await w.addStore('S1');
      const a = await w.startAgent('S1', 'S1', { hub: { tokenRefreshAt: 0.1 }, log: { level: 'debug' } });
      const LIMITED = "the hub is limiting this store's token requests; the next one waits as it asked (Retry-After)";
      const outcomes = (): string[] =>
        a.proc.lines.flatMap((l) =>
          l.msg === LIMITED ? ['429'] : l.msg === 'access token refreshed' ? ['token'] : [],
        );
      await waitFor(
        'two refusals with a token between them',
        () => outcomes().filter((o) => o === '429').length >= 2 && outcomes().includes('token'),
        30_000,
      );
      const seen = outcomes();
      expect(seen[0]).toBe('429');
      expect(seen.join(' ')).not.toMatch(/429 429/);
      for (const l of a.proc.lines.filter((x) => x.msg === LIMITED))
        expect(Number(l.waitMs)).toBeGreaterThanOrEqual(Number(l.retryAfterMs));
      // it stayed connected throughout: the refreshes that got through kept its token alive
      expect(a.proc.lines.filter((l) => l.msg === 'disconnected from the hub')).toHaveLength(0);
    },
  );
});
