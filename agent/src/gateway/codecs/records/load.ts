import { readFileSync } from 'node:fs';
import { describeZodError, TbCodes, TbError } from '@tillbridge/shared';
import { RecordProfileSchema, type RecordProfile } from './profile.js';

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/**
 * A record profile from a JSON file or an object, validated and frozen. Throws TB_CONFIG with
 * one `path: expected …` line per problem (also in `details.problems`).
 */
export function loadProfile(pathOrObject: string | object): Readonly<RecordProfile> {
  let raw: unknown = pathOrObject;
  let source = 'profile';
  if (typeof pathOrObject === 'string') {
    source = `profile ${pathOrObject}`;
    let text: string;
    try {
      text = readFileSync(pathOrObject, 'utf8');
    } catch (err) {
      throw new TbError(TbCodes.CONFIG, `cannot read ${source}: ${(err as Error).message}`, { cause: err });
    }
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new TbError(TbCodes.CONFIG, `${source} is not valid JSON: ${(err as Error).message}`, { cause: err });
    }
  }
  const r = RecordProfileSchema.safeParse(raw, { reportInput: true });
  if (!r.success) {
    const problems = describeZodError(r.error);
    throw new TbError(TbCodes.CONFIG, `${source} is not valid:\n  ${problems.join('\n  ')}`, { details: { problems } });
  }
  return deepFreeze(r.data);
}
