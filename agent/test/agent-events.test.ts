import { describe, expect, it } from 'vitest';
import { EventBus } from '../src/core/agent-events.js';

interface Events {
  welcome: [lastSeq: number];
  down: [];
}

describe('EventBus', () => {
  it('runs the handlers of an event in the order they were added', () => {
    const bus = new EventBus<Events>(() => undefined);
    const seen: string[] = [];
    bus.on('welcome', (n) => seen.push(`first ${n}`));
    bus.on('welcome', (n) => seen.push(`second ${n}`));
    bus.on('down', () => seen.push('down'));
    expect(bus.emit('welcome', 7)).toBe(true);
    expect(seen).toEqual(['first 7', 'second 7']);
  });

  it('a handler that throws is reported with its error; the others still run and nothing throws to the emitter', () => {
    const failures: [string, unknown][] = [];
    const bus = new EventBus<Events>((event, err) => failures.push([event, err]));
    const seen: number[] = [];
    const boom = new Error('database or disk is full');
    bus.on('welcome', () => {
      throw boom;
    });
    bus.on('welcome', (n) => seen.push(n));
    expect(() => bus.emit('welcome', 1)).not.toThrow();
    expect(seen).toEqual([1]);
    expect(failures).toEqual([['welcome', boom]]);
  });

  it('a failure handler that throws too is contained', () => {
    const bus = new EventBus<Events>(() => {
      throw new Error('the logger failed');
    });
    bus.on('down', () => {
      throw new Error('handler failed');
    });
    expect(() => bus.emit('down')).not.toThrow();
  });

  it('on returns what removes the handler; next resolves with the next emission', async () => {
    const bus = new EventBus<Events>(() => undefined);
    const seen: number[] = [];
    const off = bus.on('welcome', (n) => seen.push(n));
    const next = bus.next('welcome');
    bus.emit('welcome', 1);
    off();
    bus.emit('welcome', 2);
    expect(seen).toEqual([1]);
    await expect(next).resolves.toEqual([1]);
    expect(bus.emit('welcome', 3)).toBe(false);
  });
});
