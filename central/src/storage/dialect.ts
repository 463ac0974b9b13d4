/**
 * The repositories' portable SQL turned into PostgreSQL's: `?` and `@name`/`:name`/`$name`
 * parameters become `$1…$n`, the one reserved word the schema uses as a column name
 * (`authorization`) is quoted, and so are camelCase aliases (PostgreSQL folds unquoted names to
 * lower case). String literals, quoted identifiers and comments are left alone.
 */
export interface PgStatementText {
  text: string;
  /** named parameters in the order of their `$n`, or undefined when the statement uses `?` */
  names: string[] | undefined;
  /** how many `?` parameters */
  positional: number;
}

const RESERVED_COLUMNS = new Set(['authorization']);

export function toPostgres(sql: string): PgStatementText {
  let out = '';
  const names: string[] = [];
  let positional = 0;
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    if (c === "'" || c === '"') {
      // a literal or quoted identifier: '' / "" escape themselves
      let j = i + 1;
      while (j < n) {
        if (sql[j] === c) {
          if (sql[j + 1] === c) j += 2;
          else break;
        } else j++;
      }
      out += sql.slice(i, j + 1);
      i = j + 1;
    } else if (c === '-' && sql[i + 1] === '-') {
      const j = sql.indexOf('\n', i);
      const end = j === -1 ? n : j;
      out += sql.slice(i, end);
      i = end;
    } else if (c === '?') {
      positional++;
      out += `$${positional}`;
      i++;
    } else if ((c === '@' || c === '$' || (c === ':' && sql[i + 1] !== ':' && sql[i - 1] !== ':')) && /[A-Za-z_]/.test(sql[i + 1] ?? '')) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_]/.test(sql[j]!)) j++;
      const name = sql.slice(i + 1, j);
      let k = names.indexOf(name);
      if (k === -1) k = names.push(name) - 1;
      out += `$${k + 1}`;
      i = j;
    } else if (/[A-Za-z_]/.test(c) && !/[A-Za-z0-9_$]/.test(sql[i - 1] ?? '')) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_$]/.test(sql[j]!)) j++;
      const word = sql.slice(i, j);
      // a column named after a reserved word (`x.authorization` and `AS authorization` are quoted too:
      // harmless); a camelCase alias (`on_hand AS onHand`) keeps its case, as SQLite keeps it
      if (RESERVED_COLUMNS.has(word.toLowerCase())) out += `"${word.toLowerCase()}"`;
      else if (/^[a-z][a-z0-9_]*[A-Z][A-Za-z0-9_]*$/.test(word)) out += `"${word}"`;
      else out += word;
      i = j;
    } else {
      out += c;
      i++;
    }
  }
  if (names.length > 0 && positional > 0) throw new Error(`a statement mixes ? and named parameters: ${sql.slice(0, 80)}`);
  return { text: out, names: names.length > 0 ? names : undefined, positional };
}

/** The statement's parameters as libpq takes them: text, or null. */
export function bindValues(st: PgStatementText, params: unknown[]): (string | null)[] {
  let values: unknown[];
  if (st.names) {
    const bag = params[0];
    if (params.length !== 1 || bag === null || typeof bag !== 'object') throw new TypeError(`this statement takes named parameters (${st.names.join(', ')}): pass one object`);
    values = st.names.map((name) => {
      if (!(name in (bag as Record<string, unknown>))) throw new RangeError(`Missing named parameter "${name}"`);
      return (bag as Record<string, unknown>)[name];
    });
  } else {
    values = params.length === 1 && Array.isArray(params[0]) ? (params[0] as unknown[]) : params;
    if (values.length !== st.positional) throw new RangeError(`Too ${values.length < st.positional ? 'few' : 'many'} parameter values were provided (${values.length} for ${st.positional})`);
  }
  return values.map(toText);
}

function toText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new TypeError(`cannot store ${v}`);
    return String(v);
  }
  if (typeof v === 'bigint') return v.toString();
  if (Buffer.isBuffer(v)) return `\\x${v.toString('hex')}`;
  // as SQLite: booleans, objects and arrays are refused, not guessed
  throw new TypeError(`SQLite3 can only bind numbers, strings, bigints, buffers, and null (got ${typeof v})`);
}
