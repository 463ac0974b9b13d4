import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { TbError } from '@tillbridge/shared';
import { parseAgentConfig } from '../src/config.js';
import { normalizeFingerprint } from '../src/sync/pinning.js';
import { fetchAccessToken, pinnedAgentFor, type ClientTls } from '../src/sync/token-client.js';
import { wsText } from '../../test/support/ws.js';

// hub.fingerprint over real TLS on 127.0.0.1: a self-signed certificate issued for another host
// name (hub.elsewhere.example) — no CA would accept it, the pin does; any other pin is refused
// before a byte of the request is sent.

const dir = fileURLToPath(new URL('./fixtures/tls/', import.meta.url));
const cert = readFileSync(join(dir, 'pinned-hub.pem'));
const key = readFileSync(join(dir, 'pinned-hub-key.pem'));
// openssl x509 -in pinned-hub.pem -noout -fingerprint -sha256
const FP = 'D1:0C:E7:59:45:22:1F:0E:84:00:E4:58:FF:69:D1:FC:E5:45:E3:2E:13:49:07:80:38:2C:9F:30:28:EB:46:1B';
const OTHER = 'AA'.repeat(32);

let server: Server;
let wss: WebSocketServer;
let wsUrl: string;
const requests: string[] = [];
let upgrades = 0;

beforeAll(async () => {
  server = createServer({ cert, key }, (req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ accessToken: 'tok', tokenType: 'Bearer', expiresIn: 900 }));
  });
  wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    upgrades++;
    wss.handleUpgrade(req, socket, head, (ws) => ws.send('hello'));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  wsUrl = `wss://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  wss.close();
  server.closeAllConnections();
  await new Promise((ok) => server.close(ok));
});

describe('hub.fingerprint', () => {
  it('takes the fingerprint as openssl and `stores enroll` print it, colons and case optional', () => {
    expect(normalizeFingerprint(FP.toLowerCase())).toBe(FP);
    expect(normalizeFingerprint(FP.replace(/:/g, ''))).toBe(FP);
    expect(normalizeFingerprint(`sha256:${FP}`)).toBe(FP);
    expect(normalizeFingerprint(FP.slice(3))).toBeUndefined();
    expect(normalizeFingerprint('ZZ'.repeat(32))).toBeUndefined();
  });

  it('the config takes it for wss:// hubs only, and names the key when it is wrong', () => {
    const base = {
      store: 'S1',
      dataDir: '/tmp/x',
      registers: [{ id: 'R1', transport: { type: 'tcp-server', port: 7410 } }],
    };
    const ok = parseAgentConfig({
      ...base,
      hub: { url: 'wss://hub.example:7400', apiKey: 'tbk_0123456789', fingerprint: FP.toLowerCase() },
    });
    expect(ok.hub.fingerprint).toBe(FP);
    const problems = (hub: Record<string, unknown>): string[] => {
      try {
        parseAgentConfig({ ...base, hub: { apiKey: 'tbk_0123456789', ...hub } });
        return [];
      } catch (err) {
        return (err as TbError).details?.problems as string[];
      }
    };
    expect(problems({ url: 'wss://hub.example:7400', fingerprint: 'abc' })).toEqual([
      expect.stringMatching(/^hub\.fingerprint: .*SHA-256 fingerprint/),
    ]);
    expect(problems({ url: 'ws://127.0.0.1:7400', fingerprint: FP })).toEqual([
      expect.stringMatching(/^hub\.fingerprint: expected wss:\/\/ hub URLs only/),
    ]);
  });

  it(
    'the token request goes to the pinned certificate (no CA, ' +
      'another host name) and is refused before sending to any other',
    async () => {
      const t = await fetchAccessToken(wsUrl, 'S1', 'tbk_x', { tls: { fingerprint: FP } });
      expect(t.token).toBe('tok');
      expect(requests).toEqual(['POST /v1/token']);
      // without the pin: the CA check refuses it (self-signed)
      await expect(fetchAccessToken(wsUrl, 'S1', 'tbk_x', { tls: {} })).rejects.toThrow(/self.signed|certificate/i);
      // another pin: refused, and the request never reached the server
      await expect(fetchAccessToken(wsUrl, 'S1', 'tbk_x', { tls: { fingerprint: OTHER } })).rejects.toThrow(
        /not the pinned/,
      );
      expect(requests).toEqual(['POST /v1/token']);
    },
  );

  it("the WebSocket (the agent's hub link passes the same agent) opens to the pinned certificate only", async () => {
    const open = (tls: ClientTls): Promise<string> =>
      new Promise((ok, fail) => {
        const ws = new WebSocket(`${wsUrl}/v1/agent`, { agent: pinnedAgentFor(tls) });
        ws.once('message', (m) => {
          ws.close();
          ok(wsText(m));
        });
        ws.once('error', fail);
      });
    expect(await open({ fingerprint: FP })).toBe('hello');
    expect(upgrades).toBe(1);
    await expect(open({ fingerprint: OTHER })).rejects.toThrow(/not the pinned/);
    expect(upgrades).toBe(1);
  });
});
