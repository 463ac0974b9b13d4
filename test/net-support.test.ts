import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ephemeralLow, freePort, portBlock } from './support/net.js';

describe('freePort: a port no other test can be given in between', () => {
  it('reads the low end of the kernel ephemeral range, and falls back to the IANA range', () => {
    expect(ephemeralLow(() => '32768\t60999\n')).toBe(32_768);
    expect(ephemeralLow(() => 'nonsense')).toBe(49_152);
    expect(
      ephemeralLow(() => {
        throw new Error('ENOENT');
      }),
    ).toBe(49_152);
  });

  it('gives each worker a block of its own, below the ephemeral range', () => {
    const low = 32_768;
    const blocks = [1, 2, 3, 4, 5, 6, 7, 8].map((pool) => portBlock(pool, low));
    for (const b of blocks) expect(b.first + b.size).toBeLessThanOrEqual(low);
    const firsts = blocks.map((b) => b.first);
    expect(new Set(firsts).size).toBe(firsts.length);
    for (let i = 1; i < blocks.length; i++) expect(firsts[i]! - firsts[i - 1]!).toBeGreaterThanOrEqual(blocks[0]!.size);
  });

  it('hands out a port of this worker block that can be listened on, another one each call', async () => {
    const { first, size } = portBlock(Number(process.env.VITEST_POOL_ID ?? 1), ephemeralLow());
    const [a, b] = [await freePort(), await freePort()];
    expect(a).not.toBe(b);
    for (const port of [a, b]) {
      expect(port).toBeGreaterThanOrEqual(first);
      expect(port).toBeLessThan(first + size);
      const server = createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', resolve);
      });
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('passes over a port something listens on', async () => {
    const taken = await freePort();
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(taken, '127.0.0.1', resolve));
    try {
      // the block wraps round to `taken` again after size calls; the one after it is handed out instead
      const { size } = portBlock(Number(process.env.VITEST_POOL_ID ?? 1), ephemeralLow());
      const seen = new Set<number>();
      for (let i = 0; i < size; i++) seen.add(await freePort());
      expect(seen.has(taken)).toBe(false);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
