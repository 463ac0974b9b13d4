import { describe, expect, it } from 'vitest';
import { metricsOnFirstScrape, type MetricsSource } from '../src/metrics/on-first-scrape.js';

/** A metrics source whose text counts the scrapes it answered. */
function countingSource(): MetricsSource & { scrapes: number } {
  return {
    scrapes: 0,
    contentType: () => 'text/plain; version=0.0.4; charset=utf-8',
    text() {
      this.scrapes++;
      return Promise.resolve(`tillbridge_agent_scrapes ${this.scrapes}\n`);
    },
  };
}

describe('the metrics hook loaded at the first scrape', () => {
  it('loads nothing until a scrape, then once for every scrape, those that come while it loads included', async () => {
    const source = countingSource();
    let loads = 0;
    let finish: (() => void) | undefined;
    const hook = metricsOnFirstScrape(() => {
      loads++;
      return new Promise((resolve) => (finish = () => resolve(source)));
    });
    expect(loads).toBe(0);

    const first = hook();
    const second = hook();
    expect(loads).toBe(1);
    finish?.();
    const answers = await Promise.all([first, second]);
    const third = await hook();

    expect(loads).toBe(1);
    expect(answers.map((a) => a.body).sort()).toEqual(['tillbridge_agent_scrapes 1\n', 'tillbridge_agent_scrapes 2\n']);
    expect(third).toEqual({
      contentType: 'text/plain; version=0.0.4; charset=utf-8',
      body: 'tillbridge_agent_scrapes 3\n',
    });
  });

  it('answers a failed load with its error, and tries the load again at the next scrape', async () => {
    const source = countingSource();
    const outcomes: (Error | MetricsSource)[] = [new Error('prom-client failed to load'), source];
    let loads = 0;
    const hook = metricsOnFirstScrape(() => {
      loads++;
      const next = outcomes.shift();
      return next instanceof Error || next === undefined
        ? Promise.reject(next ?? new Error('no more'))
        : Promise.resolve(next);
    });

    await expect(hook()).rejects.toThrow('prom-client failed to load');
    const again = await hook();

    expect(loads).toBe(2);
    expect(again.body).toBe('tillbridge_agent_scrapes 1\n');
  });
});
