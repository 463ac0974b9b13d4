import { describe, expect, it } from 'vitest';
import { commandNamed, registerCommandGroups, type CommandGroup } from '../src/cli-start.js';

describe('commandNamed', () => {
  const withValue = ['--hub', '--token'];
  it.each([
    [['stores', 'list'], 'stores'],
    [['--hub', 'http://h:1', 'stores', 'list'], 'stores'],
    [['--hub=http://h:1', '--token', 't', 'audit'], 'audit'],
    [['--json', 'status'], 'status'],
    [['--', 'serve'], 'serve'],
    [['--version'], undefined],
    [['--hub', 'stores'], undefined],
    [[], undefined],
  ])('%j names %s', (argv, name) => {
    expect(commandNamed(argv, withValue)).toBe(name);
  });
});

describe('registerCommandGroups', () => {
  const loaded: string[] = [];
  const group = (name: string): CommandGroup<string[]> => ({
    names: [name],
    load: () => {
      loaded.push(name);
      return Promise.resolve((ctx) => ctx.push(name));
    },
  });
  const groups = [group('a'), group('b'), group('c')];

  it.each([
    [['b', 'x'], ['b']],
    [['--help'], ['a', 'b', 'c']],
    [
      ['help', 'b'],
      ['a', 'b', 'c'],
    ],
    [['typo'], ['a', 'b', 'c']],
    [['--version'], []],
    [['-V'], []],
  ])('for %j loads and registers %j', async (argv, expected) => {
    loaded.length = 0;
    const registered: string[] = [];
    await registerCommandGroups(groups, registered, argv, []);
    expect(loaded).toEqual(expected);
    expect(registered).toEqual(expected);
  });
});
