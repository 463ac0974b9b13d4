import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { settleOnce } from '../src/settle-once.js';

describe('settleOnce', () => {
  it('settles with the first outcome, undoes the wiring once, and ignores later outcomes', async () => {
    const e = new EventEmitter();
    let undone = 0;
    const p = settleOnce<string>((resolve, reject) => {
      e.on('yes', resolve);
      e.on('no', () => reject(new Error('no')));
      return () => {
        undone += 1;
        e.removeAllListeners();
      };
    });
    expect(e.listenerCount('yes')).toBe(1);
    e.emit('yes', 'first');
    await expect(p).resolves.toBe('first');
    expect(undone).toBe(1);
    expect(e.listenerCount('yes') + e.listenerCount('no')).toBe(0);
  });

  it('rejects with the first error and undoes the wiring', async () => {
    let undone = 0;
    let late: ((v: number) => void) | undefined;
    const p = settleOnce<number>((resolve, reject) => {
      late = resolve;
      reject(new Error('refused'));
      return () => {
        undone += 1;
      };
    });
    await expect(p).rejects.toThrow('refused');
    late?.(1);
    expect(undone).toBe(1);
  });

  it('undoes the wiring after start returns when an outcome came while it ran', async () => {
    const order: string[] = [];
    const p = settleOnce<number>((resolve) => {
      resolve(7);
      order.push('start returned');
      return () => order.push('undone');
    });
    await expect(p).resolves.toBe(7);
    expect(order).toEqual(['start returned', 'undone']);
  });
});
