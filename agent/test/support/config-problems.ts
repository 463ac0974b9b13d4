import { expect } from 'vitest';
import type { z } from 'zod';
import { describeZodError } from '@tillbridge/shared';

/** What `schema` says is wrong with `input`, one line per problem; the test fails if `input` parses. */
export function configProblems(schema: z.ZodType, input: unknown): string[] {
  const r = schema.safeParse(input);
  expect(r.success).toBe(false);
  return r.success ? [] : describeZodError(r.error);
}
