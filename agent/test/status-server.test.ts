import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '@tillbridge/shared';
import { StatusServer } from '../src/status/status-server.js';
import type { AgentStatus } from '../src/status/status-report.js';

let server: StatusServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

describe('the status server', () => {
  it('answers a failed metrics scrape with a 500 and logs the error', async () => {
    const logLines: { level: number; msg: string; err?: { message?: string } }[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        logLines.push(JSON.parse(chunk.toString('utf8')) as (typeof logLines)[number]);
        done();
      },
    });
    const log = createLogger({ name: 'test', level: 'info', destination });
    server = new StatusServer('127.0.0.1', 0, () => ({}) as AgentStatus, {
      metrics: () => Promise.reject(new Error('registry broke')),
      log,
    });
    const url = await server.start();

    const res = await fetch(`${url}/metrics`);

    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ code: 'TB_INTERNAL', message: 'registry broke' });
    expect(logLines).toContainEqual(
      expect.objectContaining({
        level: 50,
        msg: 'metrics scrape failed',
        err: expect.objectContaining({ message: 'registry broke' }),
      }),
    );
  });
});
