import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { describeZodError } from '../src/index.js';

const problems = (schema: z.ZodType, input: unknown): string[] => {
  const r = schema.safeParse(input, { reportInput: true });
  if (r.success) throw new Error('it parsed');
  return describeZodError(r.error, 'root');
};

describe('describeZodError: one line per problem, naming the key and what was expected', () => {
  const Codec = z.union(
    [
      z.literal('plain').transform(() => ({ type: 'plain' as const })),
      z.discriminatedUnion(
        'type',
        [
          z.strictObject({ type: z.literal('plain') }),
          z.strictObject({ type: z.literal('file'), path: z.string(), depth: z.number().optional() }),
        ],
        { error: 'a codec: "plain" or {"type":"file",…}' },
      ),
    ],
    { error: 'a codec: "plain" or {"type":"file",…}' },
  );

  it("names the key inside the one option of a union that the value's type picked", () => {
    expect(problems(Codec, { type: 'file' })).toEqual(['root.path: expected string (missing)']);
    expect(problems(Codec, { type: 'file', path: 'x', depth: 'deep' })).toEqual([
      'root.depth: expected number, got string',
    ]);
    expect(problems(Codec, { type: 'plain', extra: 1 })).toEqual([
      'root: unknown key "extra" (remove or fix the spelling)',
    ]);
  });

  it('says what the union expects as a whole when no option took the value', () => {
    expect(problems(Codec, 'fancy')).toEqual(['root: expected a codec: "plain" or {"type":"file",…}']);
    expect(problems(Codec, 7)).toEqual(['root: expected a codec: "plain" or {"type":"file",…}']);
    expect(problems(Codec, { type: 'tape' })).toEqual(['root.type: expected a codec: "plain" or {"type":"file",…}']);
  });

  it("words a size limit the schema gave no message for, and keeps the schema's own", () => {
    const S = z.strictObject({
      list: z.array(z.number()).max(2),
      count: z.number().int(),
      name: z.string().min(1),
      share: z.number().positive(),
      port: z.number().max(65535, 'a port from 0 to 65535'),
    });
    expect(problems(S, { list: [1, 2, 3], count: 2 ** 60, name: '', share: 0, port: 70000 })).toEqual([
      'root.list: expected at most 2 items',
      `root.count: expected at most ${String(Number.MAX_SAFE_INTEGER)}, got ${String(2 ** 60)}`,
      'root.name: expected at least 1 character',
      'root.share: expected more than 0, got 0',
      'root.port: expected a port from 0 to 65535',
    ]);
  });
});
