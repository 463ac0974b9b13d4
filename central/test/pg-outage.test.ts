import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AGENT_WS_PATH, TOKEN_PATH } from '@tillbridge/shared';
import { initHub, startHub, type RunningHub } from '../src/hub.js';
import { webhookTiming } from '../src/cli/commands/hub.js';
import { loadSigningKey, signingKeyPath } from '../src/audit/signing-key.js';
import {
  createTestDatabase,
  pgClusterSkipReason,
  startThrowawayCluster,
  type ThrowawayCluster,
} from '../../test/support/pg.js';
import { silent } from './helpers.js';

/**
 * A hub on PostgreSQL whose server goes away and comes back (Tillbridge issue 10): every request
 * is answered 503 meanwhile — none ends the process — and the hub works again, by itself, once
 * the server is back. A throwaway cluster of this suite's own, SIGKILLed as in a crash.
 */

const skip = pgClusterSkipReason();

/** What an agent's WebSocket upgrade is answered: the HTTP status, or 101 when it opened. */
function upgradeStatus(url: string, token?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(
      new URL(AGENT_WS_PATH, url.replace(/^http/, 'ws')),
      token ? { headers: { authorization: `Bearer ${token}` } } : {},
    );
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => {
      resolve(101);
      ws.terminate();
    });
    ws.on('error', reject);
  });
}

describe.skipIf(Boolean(skip))(`a hub whose PostgreSQL server goes away${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let cluster: ThrowawayCluster;
  let dir: string;
  let running: RunningHub;
  let apiKey: string;
  let adminToken: string;

  beforeAll(async () => {
    cluster = await startThrowawayCluster();
    const db = await createTestDatabase(cluster.url);
    dir = mkdtempSync(join(tmpdir(), 'tb-pg-outage-'));
    adminToken = initHub(dir, silent, undefined, db.url).adminToken;
    running = await startHub({ dataDir: dir, database: db.url, host: '127.0.0.1', port: 0, log: silent });
    running.hub.stores.create('S1', 'S1');
    apiKey = running.hub.credentials.createApiKey('S1');
  });
  afterAll(async () => {
    /* eslint-disable @typescript-eslint/no-unnecessary-condition -- unset if beforeAll failed first */
    await running?.stop().catch(() => {
      /* its database may be gone: the test is over */
    });
    await cluster?.stop();
    /* eslint-enable @typescript-eslint/no-unnecessary-condition */
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const token = (): Promise<Response> =>
    fetch(new URL(TOKEN_PATH, running.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ store: 'S1', apiKey }),
    });

  it(
    'answers 503 while the server is down (readiness, tokens, agent upgrades with and without a token) and serves ' +
      'again once it is back',
    async () => {
      expect((await fetch(`${running.url}/readyz`)).status).toBe(200);
      const before = (await (await token()).json()) as { accessToken: string };

      await cluster.kill();
      // the gate in front of every request reads the database: it was an uncaught exception that ended the process
      expect((await fetch(`${running.url}/readyz`)).status).toBe(503);
      expect((await fetch(`${running.url}/metrics`)).status).toBe(503);
      expect((await token()).status).toBe(503);
      expect(
        (await fetch(`${running.url}/v1/admin/stores`, { headers: { authorization: `Bearer ${adminToken}` } })).status,
      ).toBe(503);
      expect(await upgradeStatus(running.url)).toBe(503); // no token: the refusal is counted in the database
      expect(await upgradeStatus(running.url, before.accessToken)).toBe(503);
      expect((await fetch(`${running.url}/healthz`)).status).toBe(200); // the process lives

      await cluster.restart();
      expect((await fetch(`${running.url}/readyz`)).status).toBe(200);
      expect((await token()).status).toBe(200);
      expect(
        (await fetch(`${running.url}/v1/admin/stores`, { headers: { authorization: `Bearer ${adminToken}` } })).status,
      ).toBe(200);
      expect(await upgradeStatus(running.url, before.accessToken)).toBe(101);
    },
  );
});

describe.skipIf(Boolean(skip))(`init --database${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it(
    'makes the audit signing key at once (0600), so that it is copied with hub.secret before any process signs a ' +
      'checkpoint',
    async () => {
      const cluster = await startThrowawayCluster();
      const dir = mkdtempSync(join(tmpdir(), 'tb-pg-init-'));
      try {
        initHub(dir, silent, undefined, (await createTestDatabase(cluster.url)).url);
        expect(statSync(signingKeyPath(dir)).mode & 0o777).toBe(0o600);
        expect(loadSigningKey(dir)?.fingerprint).toMatch(/^SHA256:/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
        await cluster.stop();
      }
    },
  );
});

describe('--webhook-timeout and --webhook-lease', () => {
  it('default to 15 s and the timeout + 60 s; a lease must outlast the timeout', () => {
    expect(webhookTiming('15s', undefined)).toEqual({ timeoutMs: 15_000, leaseMs: 75_000 });
    expect(webhookTiming('5s', '6s')).toEqual({ timeoutMs: 5_000, leaseMs: 6_000 });
    expect(() => webhookTiming('5s', '5s')).toThrow(/must be longer than --webhook-timeout/);
    expect(() => webhookTiming('soon', undefined)).toThrow(/--webhook-timeout: expected a duration/);
    expect(() => webhookTiming('10ms', undefined)).toThrow(/at least 100ms/);
    expect(() => webhookTiming('5s', 'x')).toThrow(/--webhook-lease: expected a duration/);
  });
});
