import type { z } from 'zod';

/**
 * One line per problem, each naming the key path and what was expected, e.g.
 *   registers[0].transport.port: expected an integer from 1 to 65535, got "abc"
 */
export function describeZodError(err: z.ZodError, root = ''): string[] {
  return err.issues.map((issue) => {
    const path = formatPath(root, issue.path);
    return `${path || '(top level)'}: ${issueText(issue)}`;
  });
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
    default:
      return `expected ${issue.message}`;
  }
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v;
}
