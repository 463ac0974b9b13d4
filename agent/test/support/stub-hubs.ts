import { afterEach } from 'vitest';
import { StubHub } from '../stub-hub.js';

/** The stub hubs and the links' stop signals of one test, ended after it. */
export interface StubHubsPerTest {
  /** Starts a stub hub for the running test: closed after it. */
  start(): Promise<StubHub>;
  /** A stop signal for a link of the running test: fired after it (before its hubs close), if the test did not. */
  stopper(): AbortController;
}

/**
 * For the tests of the file (or describe block) it is called in: after each test, fires every stop signal it handed
 * out, then closes every stub hub it started.
 */
export function stubHubsPerTest(): StubHubsPerTest {
  const hubs: StubHub[] = [];
  const stops: AbortController[] = [];
  afterEach(async () => {
    for (const s of stops.splice(0)) s.abort();
    for (const h of hubs.splice(0)) await h.close();
  });
  return {
    start: async () => {
      const hub = await new StubHub().start();
      hubs.push(hub);
      return hub;
    },
    stopper: () => {
      const stop = new AbortController();
      stops.push(stop);
      return stop;
    },
  };
}
