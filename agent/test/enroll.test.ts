import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAgentConfig } from '../src/config.js';
import { enroll, hubUrls, PLACEHOLDER_REGISTER } from '../src/cli/enroll.js';
import { serveOnLoopback, withBody, type LoopbackServer } from '../../test/support/http-server.js';

// `tillbridge-agent enroll` against a stand-in hub on 127.0.0.1 (plain HTTP on loopback): what it
// sends, what it writes and keeps, and what it refuses before sending anything.

let hub: LoopbackServer;
let base: string;
let dir: string;
const got: unknown[] = [];
const KEY = 'tbk_0123456789abcdefghjkmnpqrstvwxyz0123456_abcdef';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tb-enroll-agent-'));
  hub = await serveOnLoopback(
    withBody((req, text, res) => {
      const body = JSON.parse(text) as { code: string };
      got.push({ method: req.method, url: req.url, body });
      if (body.code === 'GOOD-CODE-0000-0000')
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(
            JSON.stringify({ store: 'S042', apiKey: KEY, keyId: 'tbk_01234567', hubUrl: 'ws://x', fingerprint: null }),
          );
      else if (body.code === 'HALF-ANSWER-0000-0000')
        // a 200 that is not an enrollment answer (something else answering at the hub's address)
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ store: 'S042', apiKey: KEY }));
      else
        res
          .writeHead(401, { 'content-type': 'application/json' })
          .end(
            JSON.stringify({ code: 'TB_UNAUTHORIZED', message: 'unknown, expired or already used enrollment code' }),
          );
    }),
  );
  base = hub.url;
});
afterAll(async () => {
  await hub.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('tillbridge-agent enroll', () => {
  it('takes http(s):// or ws(s):// hub URLs', () => {
    expect(hubUrls('https://hub.example:7400/')).toEqual({
      http: 'https://hub.example:7400',
      ws: 'wss://hub.example:7400',
      secure: true,
    });
    expect(hubUrls('ws://127.0.0.1:7400')).toEqual({
      http: 'http://127.0.0.1:7400',
      ws: 'ws://127.0.0.1:7400',
      secure: false,
    });
    expect(() => hubUrls('hub.example:7400')).toThrow(/--hub: expected/);
    expect(() => hubUrls('ftp://hub.example')).toThrow(/--hub: expected an https:/);
  });

  it(
    'refuses, before sending anything: plain http to another machine, ' +
      'a fingerprint for http, an existing config without --force',
    async () => {
      const cfg = join(dir, 'refused.json');
      await expect(
        enroll({ hub: 'http://hub.example:7400', code: 'GOOD-CODE-0000-0000', config: cfg }),
      ).rejects.toThrow(/plain http to another machine/);
      await expect(
        enroll({ hub: base, code: 'GOOD-CODE-0000-0000', config: cfg, fingerprint: 'AA'.repeat(32) }),
      ).rejects.toThrow(/--fingerprint: only for an https/);
      await expect(
        enroll({ hub: base, code: 'GOOD-CODE-0000-0000', config: cfg, fingerprint: 'nope' }),
      ).rejects.toThrow(/--fingerprint: expected the SHA-256/);
      writeFileSync(cfg, '{}');
      await expect(enroll({ hub: base, code: 'GOOD-CODE-0000-0000', config: cfg })).rejects.toThrow(
        /already exists: pass --force/,
      );
      writeFileSync(cfg, 'not json');
      await expect(enroll({ hub: base, code: 'GOOD-CODE-0000-0000', config: cfg, force: true })).rejects.toThrow(
        /is not a JSON config/,
      );
      expect(got).toEqual([]);
    },
  );

  it('a refused code writes nothing and says to ask for a new one', async () => {
    const cfg = join(dir, 'none.json');
    await expect(enroll({ hub: base, code: 'BAD', config: cfg })).rejects.toThrow(
      /the hub refused the code: unknown, expired or already used enrollment code \(ask the hub operator/,
    );
    expect(existsSync(cfg)).toBe(false);
    expect(got.at(-1)).toEqual({ method: 'POST', url: '/v1/enroll', body: { code: 'BAD' } });
  });

  it('a 200 answer that is not an enrollment answer writes nothing', async () => {
    const cfg = join(dir, 'half.json');
    await expect(enroll({ hub: base, code: 'HALF-ANSWER-0000-0000', config: cfg })).rejects.toThrow(
      /the hub refused the code: HTTP 200/,
    );
    expect(existsSync(cfg)).toBe(false);
  });

  it(
    'writes a config check-config accepts (0600, ' + 'a placeholder register), and with --force keeps what was there',
    async () => {
      const cfg = join(dir, 'etc', 'agent.json');
      const r = await enroll({ hub: base, code: 'GOOD-CODE-0000-0000', config: cfg, dataDir: join(dir, 'data') });
      expect(r).toEqual(
        expect.objectContaining({
          store: 'S042',
          hubUrl: base.replace('http:', 'ws:'),
          fingerprint: null,
          pinned: false,
          placeholderRegister: true,
        }),
      );
      expect(statSync(cfg).mode & 0o777).toBe(0o600);
      const c = loadAgentConfig(cfg);
      expect(c.store).toBe('S042');
      expect(c.hub.apiKey).toBe(KEY);
      expect(c.hub.urls).toEqual([base.replace('http:', 'ws:')]);
      expect(c.dataDir).toBe(join(dir, 'data'));
      expect(JSON.parse(readFileSync(cfg, 'utf8')).registers).toEqual([PLACEHOLDER_REGISTER]);

      // store IT's registers and settings, and a list of hub URLs the enrolled one is in
      const mine = {
        store: 'OLD',
        dataDir: join(dir, 'data2'),
        hub: { urls: ['ws://127.0.0.1:1', base.replace('http:', 'ws:')], apiKey: 'tbk_old_old_old', heartbeatMs: 5000 },
        registers: [{ id: 'POS-1', transport: { type: 'tcp-server', host: '127.0.0.1', port: 0 }, codec: 'jsonl' }],
        log: { level: 'warn' },
      };
      writeFileSync(cfg, JSON.stringify(mine));
      const again = await enroll({ hub: base, code: 'GOOD-CODE-0000-0000', config: cfg, force: true });
      expect(again.registersKept).toBe(1);
      const after = JSON.parse(readFileSync(cfg, 'utf8')) as typeof mine;
      expect(after).toEqual({ ...mine, store: 'S042', hub: { urls: mine.hub.urls, apiKey: KEY, heartbeatMs: 5000 } });
      expect(statSync(cfg).mode & 0o777).toBe(0o600);
    },
  );
});
