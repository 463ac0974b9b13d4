/**
 * Where card numbers can be written in text. A *run* is digits grouped by single spaces or dashes
 * (`4111 1111-1111 1111`, `box 2 4111111111111111`); a *window* is any 13–19 consecutive digits of a
 * run. A window is a card number when it passes Luhn and starts in a card issuer's range: 3–6
 * (Amex, Diners, JCB, Visa, Mastercard, Maestro, Discover, UnionPay), or 2200–2204 (Mir) and
 * 2221–2720 (Mastercard) among the 2s. Ranges 1, 7, 8 and 9 hold no card brand a register takes
 * (epoch milliseconds start with 1), and the rest of the 2s none at all: every date of this century
 * written year first (`20261202…`) starts there.
 *
 * - `anywhere` (free text, masked): every window of every run, whatever surrounds it.
 * - `written` (identifiers, refused; the card-data scans): windows made of whole groups that are
 *   not part of a longer word — digits inside a UUID or a hex digest are not a card number
 *   written down, and a long numeric receipt number is not one either unless a card number in it
 *   stands as its own group(s). A UUID's groups (8-4-4-4-12 hex digits) are part of a word even
 *   when its first groups hold no letter: about 40 in a million random UUIDs begin with 16 decimal
 *   digits that pass Luhn (an authorization id a register sends back, a message id it makes).
 *
 * The work is linear in the text: each run is read once, Luhn is answered for any window from
 * prefix sums, and at most 7 windows start at each digit (`anywhere`) or 7 per group start
 * (`written`, group-aligned windows of at most 19 digits).
 */
export type CardScanMode = 'anywhere' | 'written';

/** A card number found: the character range [start, end) it covers in the text, and its digits. */
export interface CardSpan {
  start: number;
  end: number;
  digits: string;
}

/** Counts the work done, for tests that bound it by size. */
export interface CardScanMeter {
  windows: number;
}

const MIN_PAN = 13;
const MAX_PAN = 19;

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isLetter = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

interface Group {
  /** [from, to): digit indices within the run */
  from: number;
  to: number;
  /** touches a letter: part of a longer word */
  word: boolean;
}

interface Run {
  digits: number[];
  /** text offset of each digit */
  at: number[];
  groups: Group[];
}

/** `xs[i]` for an index the caller keeps in range; a RangeError (a bug here) if it is not. */
function at<T>(xs: ArrayLike<T>, i: number): T {
  const v = xs[i];
  if (v === undefined) throw new RangeError(`card scan: index ${i} is outside 0..${xs.length - 1}`);
  return v;
}

/** A UUID: 8-4-4-4-12 hex digits with no letter or digit on either side (`ret-<uuid>` is one). */
const UUID =
  /(?<![0-9A-Za-z])[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![0-9A-Za-z])/g;

/** For each character of `text`, whether it is inside a UUID; undefined when the text holds none. */
function uuidCharacters(text: string): Uint8Array | undefined {
  if (text.length < 36 || !text.includes('-')) return undefined;
  let inside: Uint8Array | undefined;
  for (const m of text.matchAll(UUID)) {
    inside ??= new Uint8Array(text.length);
    inside.fill(1, m.index, m.index + m[0].length);
  }
  return inside;
}

/** The digit runs of `text`; only the written scan reads a group's `word`, so only it looks for UUIDs. */
function* runsIn(text: string, mode: CardScanMode): Generator<Run> {
  const n = text.length;
  const inUuid = mode === 'written' ? uuidCharacters(text) : undefined;
  let i = 0;
  while (i < n) {
    if (!isDigit(text.charCodeAt(i))) {
      i++;
      continue;
    }
    const run: Run = { digits: [], at: [], groups: [] };
    for (;;) {
      const from = run.digits.length;
      const first = i;
      while (i < n && isDigit(text.charCodeAt(i))) {
        run.digits.push(text.charCodeAt(i) - 48);
        run.at.push(i);
        i++;
      }
      run.groups.push({
        from,
        to: run.digits.length,
        word: isLetter(text.charCodeAt(first - 1)) || isLetter(text.charCodeAt(i)) || inUuid?.[first] === 1,
      });
      const sep = text.charCodeAt(i);
      if ((sep === 32 || sep === 45) && isDigit(text.charCodeAt(i + 1))) {
        i++;
        continue;
      }
      break;
    }
    yield run;
  }
}

/** Luhn of any window of `d` in O(1): `sums[p][k]` adds d[0..k) doubling the positions of parity p. */
function luhnSums(d: number[]): [Int32Array, Int32Array] {
  const s0 = new Int32Array(d.length + 1);
  const s1 = new Int32Array(d.length + 1);
  d.forEach((v, j) => {
    const dbl = v * 2 > 9 ? v * 2 - 9 : v * 2;
    s0[j + 1] = at(s0, j) + (j % 2 === 0 ? dbl : v);
    s1[j + 1] = at(s1, j) + (j % 2 === 1 ? dbl : v);
  });
  return [s0, s1];
}

/**
 * Whether the digits from `from` start in a card issuer's range (the file's head); the caller keeps
 * at least 4 digits there (a window has 13 or more).
 */
function inIssuerRange(d: number[], from: number): boolean {
  const first = at(d, from);
  if (first >= 3 && first <= 6) return true;
  if (first !== 2) return false;
  const four = 2000 + at(d, from + 1) * 100 + at(d, from + 2) * 10 + at(d, from + 3);
  return (four >= 2200 && four <= 2204) || (four >= 2221 && four <= 2720);
}

/** Every card-number window of a run, as [from, to) digit indices, in order of `from`. */
function windowsOf(run: Run, mode: CardScanMode, meter?: CardScanMeter): [number, number][] {
  const d = run.digits;
  if (d.length < MIN_PAN) return [];
  const sums = luhnSums(d);
  const out: [number, number][] = [];
  const check = (from: number, to: number): void => {
    if (meter) meter.windows++;
    if (!inIssuerRange(d, from)) return;
    // the last digit is not doubled, so the doubled positions share the parity of `to`
    const s = sums[to % 2 === 0 ? 0 : 1];
    if ((at(s, to) - at(s, from)) % 10 === 0) out.push([from, to]);
  };
  if (mode === 'anywhere') {
    for (let from = 0; from + MIN_PAN <= d.length; from++) {
      for (let len = MIN_PAN; len <= MAX_PAN && from + len <= d.length; len++) check(from, from + len);
    }
    return out;
  }
  const g = run.groups;
  g.forEach((start, s) => {
    for (let e = s; e < g.length && !at(g, e).word; e++) {
      const len = at(g, e).to - start.from;
      if (len > MAX_PAN) break;
      if (len >= MIN_PAN) check(start.from, at(g, e).to);
    }
  });
  return out;
}

/**
 * The card numbers in `text`, as character ranges. Overlapping windows are merged into one span,
 * so that masking a span (first 6 / last 4 of it) shows no window more than its own first 6 and
 * last 4 digits, and leaves no new card number behind.
 */
export function cardNumberSpans(text: string, mode: CardScanMode, meter?: CardScanMeter): CardSpan[] {
  const spans: CardSpan[] = [];
  for (const run of runsIn(text, mode)) {
    let cur: [number, number] | undefined;
    const flush = (): void => {
      if (!cur) return;
      spans.push({
        start: at(run.at, cur[0]),
        end: at(run.at, cur[1] - 1) + 1,
        digits: run.digits.slice(cur[0], cur[1]).join(''),
      });
    };
    for (const [from, to] of windowsOf(run, mode, meter)) {
      if (cur && from < cur[1]) cur[1] = Math.max(cur[1], to);
      else {
        flush();
        cur = [from, to];
      }
    }
    flush();
  }
  return spans;
}
