import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import WebSocket from 'ws';
import { AGENT_WS_PATH } from '@tillbridge/shared';
import { initHub, type RunningHub } from '../src/hub.js';
import { listeningHub, silent } from './helpers.js';

/** A hub listening on a real port, made by a test, and the agents' WebSockets the test opens to it. */
export interface HubPerTest {
  /** A new hub in a temporary directory (`prefix`…), initialized and listening. */
  start(prefix: string): Promise<RunningHub>;
  /** A WebSocket to the hub's agent endpoint with `token`, ended after the test. */
  dial(token: string): WebSocket;
}

/** Call at the top of a test file: after each test its sockets are ended, its hub stopped, its directory removed. */
export function hubPerTest(): HubPerTest {
  let dir: string | undefined;
  let running: RunningHub | undefined;
  const open: WebSocket[] = [];
  afterEach(async () => {
    for (const ws of open.splice(0)) ws.terminate();
    await running?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    running = undefined;
    dir = undefined;
  });
  return {
    start: async (prefix) => {
      dir = mkdtempSync(join(tmpdir(), prefix));
      initHub(dir, silent);
      running = await listeningHub(dir);
      return running;
    },
    dial: (token) => {
      if (!running) throw new Error('dial before start');
      const ws = new WebSocket(new URL(AGENT_WS_PATH, running.wsUrl).toString(), {
        headers: { authorization: `Bearer ${token}` },
      });
      open.push(ws);
      return ws;
    },
  };
}
