import type { z } from 'zod';

/**
 * One line per problem, each naming the key path and what was expected, e.g.
 *   registers[0].transport.port: expected an integer from 1 to 65535, got "abc"
 */
export function describeZodError(err: Pick<z.ZodError, 'issues'>, root = ''): string[] {
  return err.issues.flatMap((issue) => describeIssue(issue, root, []));
}

/**
 * A union that failed on every option says what it expected as a whole, unless exactly one option got inside the
 * value (the object's `type` picked it, and only its keys are wrong): then that option's problems, each naming its key.
 */
function describeIssue(issue: z.core.$ZodIssue, root: string, base: PropertyKey[]): string[] {
  const at = [...base, ...issue.path];
  if (issue.code === 'invalid_union') {
    const inside = issue.errors.filter((option) => option.length > 0 && option.every((i) => i.path.length > 0));
    const [only] = inside;
    if (only && inside.length === 1) return only.flatMap((i) => describeIssue(i, root, at));
  }
  return [`${formatPath(root, at) || '(top level)'}: ${issueText(issue)}`];
}

function formatPath(root: string, path: PropertyKey[]): string {
  let out = root;
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out;
}

function issueText(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'unrecognized_keys':
      return (
        `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} ` +
        '(remove or fix the spelling)'
      );
    case 'invalid_type': {
      const expected = issue.expected === 'int' ? 'an integer' : issue.expected;
      return `expected ${expected}${issue.input === undefined ? ' (missing)' : `, got ${typeName(issue.input)}`}`;
    }
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_big':
    case 'too_small':
      // zod's own wording ("Too big: expected array to have <=64 items") where the schema gave none
      return /^Too (big|small)\b/.test(issue.message) ? `expected ${bound(issue)}` : `expected ${issue.message}`;
    default:
      return `expected ${issue.message}`;
  }
}

/** What a size limit counts, by what it limits (a number's limit counts nothing). */
const UNITS: Partial<Record<string, string>> = { array: ' item', set: ' item', string: ' character', file: ' byte' };

/** A size limit in words: "at most 64 items", "at least 1 character", "at most 9007199254740991". */
function bound(issue: z.core.$ZodIssueTooBig | z.core.$ZodIssueTooSmall): string {
  const big = issue.code === 'too_big';
  const limit = Number(big ? issue.maximum : issue.minimum);
  const exclusive = issue.inclusive === false;
  const word = big ? (exclusive ? 'less than' : 'at most') : exclusive ? 'more than' : 'at least';
  const unit = UNITS[issue.origin] ?? '';
  const got = 'input' in issue && typeof issue.input === 'number' ? `, got ${String(issue.input)}` : '';
  return `${word} ${String(limit)}${unit}${unit && limit !== 1 ? 's' : ''}${got}`;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Number.isNaN(v)) return 'a value that is not a number';
  if (Array.isArray(v)) return 'an array';
  return typeof v;
}
