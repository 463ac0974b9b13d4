import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevCa } from '@tillbridge/central';
import { HUB_BIN } from '@tillbridge/scripts/lib/paths';
import { runCommand } from '@tillbridge/scripts/lib/process';
import { JsonLinesRegister } from '@tillbridge/scripts/lib/register-client';
import { waitFor } from '@tillbridge/scripts/lib/wait';
import { cashReturn, returnRequest, sale, worldForFile, type Decision } from './fixture.js';

/** What an operator reads from `tillbridge-hub`, through the real binary against a real hub. */
const w = worldForFile({ stores: ['S1'] });

const hubAt = (url: string, ...args: string[]) =>
  runCommand(process.execPath, [HUB_BIN, ...args], {
    TILLBRIDGE_HUB_URL: url,
    TILLBRIDGE_ADMIN_TOKEN: w.adminToken,
    TILLBRIDGE_HUB_CA: '',
  });

describe('returns exceptions', () => {
  it('--open lists only the exceptions not yet settled', async () => {
    const a = await w.startAgent('S1');
    const reg = await JsonLinesRegister.connect(a.port());
    // the same receipt three times: the hub keeps the 2nd and 3rd as exceptions
    for (const id of ['dup-1', 'dup-2', 'dup-3'])
      await reg.send(sale(id, 'EXC-DUP', [{ sku: 'A', qty: 1, unitPrice: 100 }]));
    reg.close();
    interface Exc {
      id: string;
      resolvedAt: string | null;
    }
    const all = async (...more: string[]) =>
      JSON.parse((await w.hub.cli(['returns', 'exceptions', '--store', 'S1', ...more, '--json'])).stdout) as Exc[];
    await waitFor('two exceptions', async () => (await all()).length === 2);
    const [first, second] = await all();
    const settled = await w.hub.cli([
      'returns',
      'resolve',
      first!.id,
      '--action',
      'accept',
      '--note',
      'sold twice by mistake',
    ]);
    expect(settled.code, settled.stderr).toBe(0);

    expect((await all()).map((e) => e.id).sort()).toEqual([first!.id, second!.id].sort());
    expect((await all('--open')).map((e) => e.id)).toEqual([second!.id]);
    const human = await w.hub.cli(['returns', 'exceptions', '--open']);
    expect(human.stdout).toContain(second!.id);
    expect(human.stdout).not.toContain(first!.id);
    expect((await w.hub.cli(['returns', 'exceptions'])).stdout).toMatch(new RegExp(`${first!.id}.*accept `));
    await a.proc.stop();
  });
});

describe('inventory show', () => {
  it('a SKU the store has no stock record of is not found (exit 3), one it has is shown', async () => {
    expect((await w.hub.cli(['inventory', 'set', 'S1', 'SHOWN', '4'])).code).toBe(0);
    const missing = await w.hub.cli(['inventory', 'show', 'S1', 'NOPE']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/store S1 has no SKU NOPE/);
    expect(missing.stdout).toBe('');
    const found = await w.hub.cli(['inventory', 'show', 'S1', 'SHOWN', '--json']);
    expect(found.code).toBe(0);
    expect(JSON.parse(found.stdout)).toEqual([{ store: 'S1', sku: 'SHOWN', onHand: 4, reserved: 0, available: 4 }]);
  });
});

describe("amounts in the currency's decimals", () => {
  it(
    'sales show prints 48.97 EUR for 4897 minor units, ' + 'and yen without decimals; --json keeps minor units',
    async () => {
      const file = join(w.dir, 'money-sales.jsonl');
      const line = (receipt: string, currency: string) =>
        JSON.stringify({
          store: 'S1',
          channel: 'web',
          receipt,
          at: '2026-11-20T10:00:00Z',
          currency,
          lines: [
            { line: 1, sku: 'TEE', qty: 1, unitPrice: 2999 },
            { line: 2, sku: 'CAP', qty: 1, unitPrice: 1898 },
          ],
          tenders: [{ kind: 'cash', amount: 4897 }],
        });
      writeFileSync(file, `${line('MONEY-EUR', 'EUR')}\n${line('MONEY-JPY', 'JPY')}\n`);
      const imported = await w.hub.cli(['sales', 'import', file]);
      expect(imported.code, imported.stderr).toBe(0);

      const eur = await w.hub.cli(['sales', 'show', 'MONEY-EUR']);
      expect(eur.stdout).toMatch(/total 48\.97 EUR/);
      expect(eur.stdout).toMatch(/^1\s+TEE\s+1\s+29\.99 EUR/m);
      expect(eur.stdout).not.toMatch(/4897/);
      const yen = await w.hub.cli(['sales', 'show', 'MONEY-JPY']);
      expect(yen.stdout).toMatch(/total 4897 JPY/);
      expect(yen.stdout).toMatch(/^1\s+TEE\s+1\s+2999 JPY/m);
      expect(JSON.parse((await w.hub.cli(['sales', 'show', 'MONEY-EUR', '--json'])).stdout)).toMatchObject({
        total: 4897,
        currency: 'EUR',
      });
    },
  );

  it("returns show prints the refund in the sale's currency", async () => {
    const a = await w.startAgent('S1', 'money');
    const reg = await JsonLinesRegister.connect(a.port());
    await reg.send(sale('m-1', 'MONEY-RET', [{ sku: 'TEE', qty: 2, unitPrice: 2999 }]));
    const d = await reg.send<Decision>(returnRequest('m-2', 'MONEY-RET'));
    expect(d.decision).toBe('approved');
    expect(await reg.send(cashReturn('m-3', d.authorization, 2999))).toEqual({ type: 'ack', id: 'm-3' });
    reg.close();
    await waitFor(
      'the completion at the hub',
      async () =>
        (JSON.parse((await w.hub.cli(['returns', 'show', d.authorization, '--json'])).stdout) as { status: string })
          .status === 'completed',
    );
    const json = JSON.parse((await w.hub.cli(['returns', 'show', d.authorization, '--json'])).stdout) as {
      currency: string;
      refund: number;
    };
    expect(json).toMatchObject({ currency: 'EUR', refund: 2999 });
    const human = (await w.hub.cli(['returns', 'show', d.authorization])).stdout;
    expect(human).toMatch(/^refund\s+29\.99 EUR - fees 0\.00 EUR = 29\.99 EUR/m);
    expect(human).toMatch(/^completed .*: 29\.99 EUR to cash/m);
    await a.proc.stop();
  });
});

describe('what is wrong with the way to the hub', () => {
  let dir: string;
  const servers: HttpsServer[] = [];
  const ca = DevCa.create('Operator test CA');
  const serve = async (cert: { cert: string; key: string }, chain = ''): Promise<string> => {
    const s = createHttpsServer({ cert: cert.cert + chain, key: cert.key }, (_req, res) => res.end('{}'));
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return `https://127.0.0.1:${(s.address() as { port: number }).port}`;
  };
  beforeAll(() => {
    dir = join(w.dir, 'tls');
    mkdirSync(dir);
    writeFileSync(join(dir, 'ca.pem'), ca.pem.cert);
    writeFileSync(join(dir, 'other-ca.pem'), DevCa.create('Somebody else').pem.cert);
  });
  afterAll(() => servers.forEach((s) => s.close()));
  const good = ca.issue({ cn: 'localhost', hosts: ['127.0.0.1', 'localhost'], usage: 'server' });

  it('a URL without http:// or https:// is bad usage (exit 2) that says so', async () => {
    for (const url of ['127.0.0.1:7400', 'hub.example:7400', 'ftp://hub.example']) {
      const r = await hubAt(url, 'stores', 'list');
      expect(r.code, url).toBe(2);
      expect(r.stderr, url).toMatch(
        /--hub ".*": expected (a URL with its scheme, e\.g\. http:\/\/|an http:\/\/ or https:\/\/ URL)/,
      );
      expect(r.stderr, url).not.toMatch(/serve` running/);
    }
  });

  it('nothing listening, or a host that does not resolve: exit 1, saying which', async () => {
    const free = createNetServer();
    await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
    const port = (free.address() as { port: number }).port;
    await new Promise<void>((r) => free.close(() => r()));
    const refused = await hubAt(`http://127.0.0.1:${port}`, 'stores', 'list');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /nothing is listening at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)\. Is `tillbridge-hub serve` running there\?/,
    );
    const unknown = await hubAt('http://no-such-hub.invalid:7400', 'stores', 'list');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/cannot resolve the host name no-such-hub\.invalid \((ENOTFOUND|EAI_AGAIN)\)/);
  });

  it('a certificate the CLI does not trust: exit 7, pointing at --ca', async () => {
    const leafOnly = await serve(good);
    const r = await hubAt(leafOnly, 'stores', 'list');
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(
      new RegExp(
        String.raw`the hub's certificate at https:\/\/127\.0\.0\.1:\d+ is not trusted ` +
          String.raw`\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\): pass the CA that issued it with --ca FILE`,
      ),
    );
    const withChain = await serve(good, ca.pem.cert);
    const chain = await hubAt(withChain, 'stores', 'list');
    expect(chain.code).toBe(7);
    expect(chain.stderr).toMatch(/is not trusted \(SELF_SIGNED_CERT_IN_CHAIN\): pass the CA .* --ca FILE/);
    const wrongCa = await hubAt(leafOnly, '--ca', join(dir, 'other-ca.pem'), 'stores', 'list');
    expect(wrongCa.code).toBe(7);
    expect(wrongCa.stderr).toMatch(/is not signed by the CA in --ca .*other-ca\.pem/);
    // with the right CA the TLS part passes: the stub answers {} (not a store list, but not a TLS error)
    expect((await hubAt(leafOnly, '--ca', join(dir, 'ca.pem'), 'stores', 'list')).code).not.toBe(7);
  });

  it('an expired certificate and one for another host: exit 7, saying which', async () => {
    const expired = ca.issue({
      cn: 'localhost',
      hosts: ['127.0.0.1'],
      usage: 'server',
      notBefore: new Date(Date.now() - 3 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    const e = await hubAt(await serve(expired), '--ca', join(dir, 'ca.pem'), 'stores', 'list');
    expect(e.code).toBe(7);
    expect(e.stderr).toMatch(/certificate at https:\/\/127\.0\.0\.1:\d+ has expired \(CERT_HAS_EXPIRED\)/);
    const elsewhere = ca.issue({ cn: 'hub.elsewhere.example', hosts: ['hub.elsewhere.example'], usage: 'server' });
    const o = await hubAt(await serve(elsewhere), '--ca', join(dir, 'ca.pem'), 'stores', 'list');
    expect(o.code).toBe(7);
    expect(o.stderr).toMatch(/the hub's certificate is not issued for 127\.0\.0\.1 \(ERR_TLS_CERT_ALTNAME_INVALID\)/);
  });
});
