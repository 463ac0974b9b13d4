import type { Logger } from '@tillbridge/shared';
import type { HubLinkOptions } from '../../src/sync/hub-link.js';

/**
 * A HubLink's options for a test against `url`: agent-1 of store S1 with a test key, a first
 * connection (incarnation inc-1, nothing sent yet), a short backoff (20 ms to 100 ms) and no ping
 * within a test. A test spreads them and overrides what it is about.
 */
export function testLinkOptions(url: string | string[], log: Logger): HubLinkOptions {
  return {
    url,
    store: 'S1',
    apiKey: () => 'tbk_test_key',
    agentId: 'agent-1',
    hello: () => ({ incarnation: 'inc-1', newest: 0 }),
    software: 'test',
    reconnectBaseMs: 20,
    reconnectCapMs: 100,
    pingMs: 10_000,
    log,
  };
}
