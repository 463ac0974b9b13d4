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

/**
 * Where the literal or quoted identifier opening at `at` (' or ") ends: the index of its closing
 * quote (or past the end). '' and "" escape themselves; in an E'…' literal a backslash escapes too.
 */
function closingQuote(text: string, at: number): number {
  const q = text.charAt(at);
  const backslashes = q === "'" && /[eE]/.test(text[at - 1] ?? '');
  let j = at + 1;
  while (j < text.length) {
    if (text[j] === q) {
      if (text[j + 1] === q) j += 2;
      else return j;
    } else if (backslashes && text[j] === '\\') j += 2;
    else j++;
  }
  return j;
}

export function toPostgres(sql: string): PgStatementText {
  let out = '';
  const names: string[] = [];
  let positional = 0;
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql.charAt(i);
    if (c === "'" || c === '"') {
      const j = closingQuote(sql, i);
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
    } else if (
      (c === '@' || c === '$' || (c === ':' && sql[i + 1] !== ':' && sql[i - 1] !== ':')) &&
      /[A-Za-z_]/.test(sql[i + 1] ?? '')
    ) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_]/.test(sql.charAt(j))) j++;
      const name = sql.slice(i + 1, j);
      let k = names.indexOf(name);
      if (k === -1) k = names.push(name) - 1;
      out += `$${k + 1}`;
      i = j;
    } else if (/[A-Za-z_]/.test(c) && !/[A-Za-z0-9_$]/.test(sql[i - 1] ?? '')) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_$]/.test(sql.charAt(j))) j++;
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
  if (names.length > 0 && positional > 0)
    throw new Error(`a statement mixes ? and named parameters: ${sql.slice(0, 80)}`);
  return { text: out, names: names.length > 0 ? names : undefined, positional };
}

/** The statement's parameters as libpq takes them: text, or null. */
export function bindValues(st: PgStatementText, params: unknown[]): (string | null)[] {
  let values: unknown[];
  if (st.names) {
    const bag = params[0];
    if (params.length !== 1 || bag === null || typeof bag !== 'object')
      throw new TypeError(`this statement takes named parameters (${st.names.join(', ')}): pass one object`);
    values = st.names.map((name) => {
      if (!(name in (bag as Record<string, unknown>))) throw new RangeError(`Missing named parameter "${name}"`);
      return (bag as Record<string, unknown>)[name];
    });
  } else {
    values = params.length === 1 && Array.isArray(params[0]) ? (params[0] as unknown[]) : params;
    if (values.length !== st.positional)
      throw new RangeError(
        `Too ${values.length < st.positional ? 'few' : 'many'} parameter values were provided ` +
          `(${values.length} for ${st.positional})`,
      );
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

/** What the storage decides once per statement (at prepare), from its PostgreSQL text. */
export interface StatementShape {
  /**
   * It reads only: a SELECT, VALUES or TABLE, or a WITH whose parts write nothing. Such a
   * statement runs outside a transaction when there is none; any other takes the write lock.
   */
  readOnly: boolean;
  /** The same statement cut to its first row (`LIMIT 1` added), when that is safe: for `get`. */
  firstRow: string | undefined;
  /** It may be read in batches through a cursor (`DECLARE … CURSOR FOR`): for `iterate`. */
  cursor: boolean;
}

const WRITE_WORDS = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE']);
const READ_STARTS = new Set(['SELECT', 'VALUES', 'TABLE', 'WITH']);

/**
 * Reads a PostgreSQL statement's words outside literals, quoted names and comments: those at
 * the top level (outside parentheses) and all. Enough to tell a read from a write and to see
 * whether the statement already has a LIMIT, not a parser.
 */
export function shapeOf(text: string): StatementShape {
  const top: string[] = [];
  let writes = false;
  let depth = 0;
  let lastSignificant = -1; // index after the last character that is not a comment, blank or ';'
  let innerSemicolon = false;
  let sawSemicolon = false;
  let startsWithParen = false;
  let prev = '';
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charAt(i);
    if (c === "'" || c === '"') {
      i = closingQuote(text, i) + 1;
      if (sawSemicolon) innerSemicolon = true;
      lastSignificant = i;
    } else if (c === '-' && text[i + 1] === '-') {
      const j = text.indexOf('\n', i);
      i = j === -1 ? n : j;
    } else if (c === '/' && text[i + 1] === '*') {
      const j = text.indexOf('*/', i + 2);
      i = j === -1 ? n : j + 2;
    } else if (c === '$' && /[A-Za-z_$]/.test(text[i + 1] ?? '')) {
      // a dollar-quoted literal: $$…$$ or $tag$…$tag$
      const m = /^\$[A-Za-z_0-9]*\$/.exec(text.slice(i));
      if (!m) {
        i++;
        continue;
      }
      const end = text.indexOf(m[0], i + m[0].length);
      i = end === -1 ? n : end + m[0].length;
      if (sawSemicolon) innerSemicolon = true;
      lastSignificant = i;
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_$]/.test(text.charAt(j))) j++;
      const word = text.slice(i, j).toUpperCase();
      if (depth === 0) top.push(word);
      // FOR UPDATE, FOR NO KEY UPDATE: a locking read
      if (WRITE_WORDS.has(word) && !(word === 'UPDATE' && (prev === 'FOR' || prev === 'KEY'))) writes = true;
      prev = word;
      i = j;
      if (sawSemicolon) innerSemicolon = true;
      lastSignificant = i;
    } else {
      if (c === '(') {
        if (top.length === 0 && depth === 0) startsWithParen = true;
        depth++;
      } else if (c === ')') depth--;
      if (c === ';') sawSemicolon = true;
      else if (!/\s/.test(c)) {
        if (sawSemicolon) innerSemicolon = true;
        lastSignificant = i + 1;
      }
      i++;
    }
  }
  const first = top[0];
  const readOnly = !startsWithParen && !innerSemicolon && first !== undefined && READ_STARTS.has(first) && !writes;
  const limited = top.some((w) => w === 'LIMIT' || w === 'OFFSET' || w === 'FETCH');
  const locks = top.includes('FOR');
  return {
    readOnly,
    // on a new line: the statement may end in a -- comment
    firstRow: readOnly && !limited && first !== 'TABLE' ? `${text.slice(0, lastSignificant)}\nLIMIT 1` : undefined,
    cursor: readOnly && !locks,
  };
}
