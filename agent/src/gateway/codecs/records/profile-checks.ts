import { MESSAGE_SHAPES, REPLY_SOURCES, REPLY_TYPES, type ArrayName, type MessageType } from './canonical-fields.js';
import { compileFormat } from './dates.js';
import type { DelimitedProfile, FixedProfile } from './profile.js';

/**
 * The checks of a record profile that its shape alone cannot express: targets that exist in the
 * canonical model, required fields mapped, positions that fit their record, reply values that
 * exist. Each issue names its path and what was expected.
 */

export interface ProfileIssue {
  path: (string | number)[];
  message: string;
}

type Path = (string | number)[];

type ReplyType = (typeof REPLY_TYPES)[number];

/** The reply records a profile has, in REPLY_TYPES order, each with its type and path. */
function replyRecords<P extends Partial<Record<ReplyType, object>>>(
  records: P,
): { type: ReplyType; rec: NonNullable<P[ReplyType]>; at: Path }[] {
  return REPLY_TYPES.flatMap((type) => {
    const rec = records[type];
    return rec ? [{ type, rec, at: ['reply', 'records', type] }] : [];
  });
}

interface SpecLike {
  as: string;
  decimals?: number | undefined;
  format?: string | undefined;
  map?: Record<string, unknown> | undefined;
  const?: unknown;
}

interface MessageLike {
  type: MessageType;
  context: Record<string, unknown>;
  fields: Record<string, SpecLike>;
  children: Record<string, { into: ArrayName; fields: Record<string, SpecLike> }>;
}

interface ItemSource {
  into: ArrayName;
  fields: Record<string, SpecLike>;
  path: Path;
}

/** Where a message's items come from: a delimited message's groups, then its child records. */
function itemsOf(p: DelimitedProfile | FixedProfile, code: string, m: MessageLike): ItemSource[] {
  const at: Path = ['request', 'messages', code];
  const items: ItemSource[] = [];
  if (p.format === 'delimited') {
    p.request.messages[code]?.groups.forEach((g, i) =>
      items.push({ into: g.into, fields: g.fields, path: [...at, 'groups', i] }),
    );
  }
  for (const [cc, c] of Object.entries(m.children))
    items.push({ into: c.into, fields: c.fields, path: [...at, 'children', cc] });
  return items;
}

export function checkProfile(p: DelimitedProfile | FixedProfile): ProfileIssue[] {
  const issues: ProfileIssue[] = [];
  const add = (path: Path, message: string) => issues.push({ path, message });
  const contextNames = new Set<string>();
  const types = new Set<string>();

  const messages: Record<string, MessageLike> = p.request.messages;
  for (const [code, m] of Object.entries(messages)) {
    const at: Path = ['request', 'messages', code];
    types.add(m.type);
    for (const name of Object.keys(m.context)) contextNames.add(name);
    const shape = MESSAGE_SHAPES[m.type];
    checkTargets(m.fields, shape.fields, [...at, 'fields'], `a canonical field of ${m.type}`, false, add);
    const fed = new Set<ArrayName>();
    for (const cc of Object.keys(m.children)) {
      if (Object.hasOwn(p.request.messages, cc))
        add([...at, 'children', cc], 'a child type code that is not also a message type code');
    }
    for (const it of itemsOf(p, code, m)) {
      const arr = shape.arrays[it.into];
      if (!arr) {
        add(
          [...it.path, 'into'],
          `an array of ${m.type}: ${Object.keys(shape.arrays).join(', ') || 'none (it has no items)'}`,
        );
        continue;
      }
      fed.add(it.into);
      checkTargets(
        it.fields,
        arr.fields,
        [...it.path, 'fields'],
        `a canonical field of ${m.type} ${it.into}`,
        true,
        add,
      );
      if (arr.oneOf && !arr.oneOf.some((k) => Object.hasOwn(it.fields, k))) {
        add(
          [...it.path, 'fields'],
          `a mapping for ${arr.oneOf.map((k) => `"${k}"`).join(' or ')} (the canonical model names a ` +
            `${it.into.slice(0, -1)} by one of them)`,
        );
      }
    }
    for (const [name, arr] of Object.entries(shape.arrays)) {
      if (arr.required && !fed.has(name as ArrayName))
        add(at, `a group or child record filling "${name}" (a ${m.type} needs at least one)`);
    }
  }

  if (p.format === 'delimited') checkDelimited(p, add);
  else checkFixed(p, add);

  if (types.has('return.request') && !p.reply.records['return.decision'])
    add(
      ['reply', 'records', 'return.decision'],
      'a reply record for return.decision (a message maps to return.request)',
    );
  if (types.has('receipt.lookup') && !p.reply.records.receipt)
    add(['reply', 'records', 'receipt'], 'a reply record for receipt (a message maps to receipt.lookup)');
  for (const { type, rec, at } of replyRecords(p.reply.records)) {
    const src = REPLY_SOURCES[type];
    rec.fields.forEach((f, i) => checkReplyField(f, src.fields, contextNames, [...at, 'fields', i], add));
    const nested: { fields: typeof rec.fields; path: Path }[] = rec.children.map((c, i) => ({
      fields: c.fields,
      path: [...at, 'children', i],
    }));
    if ('groups' in rec) rec.groups.forEach((g, i) => nested.push({ fields: g.fields, path: [...at, 'groups', i] }));
    for (const n of nested) {
      if (src.items.length === 0) add(n.path, `nothing: a ${type} reply has no lines`);
      else n.fields.forEach((f, i) => checkReplyField(f, src.items, contextNames, [...n.path, 'fields', i], add));
    }
  }
  return issues;
}

function checkTargets(
  fields: Record<string, SpecLike>,
  allowed: Record<string, boolean>,
  at: Path,
  what: string,
  item: boolean,
  add: (p: Path, m: string) => void,
): void {
  for (const [key, spec] of Object.entries(fields)) {
    if (!Object.hasOwn(allowed, key)) add([...at, key], `${what}: ${Object.keys(allowed).join(', ')}`);
    checkSpec(spec, [...at, key], item, add);
  }
  for (const [key, required] of Object.entries(allowed)) {
    if (required && !Object.hasOwn(fields, key)) add(at, `a mapping for "${key}" (the canonical model requires it)`);
  }
}

function checkSpec(
  spec: SpecLike & { field?: unknown; columns?: unknown },
  at: Path,
  item: boolean,
  add: (p: Path, m: string) => void,
): void {
  const hasSource = spec.field !== undefined || spec.columns !== undefined;
  const kinds = [hasSource, spec.const !== undefined, spec.as === 'index'].filter(Boolean).length;
  if (kinds !== 1) add(at, 'exactly one of a position ("field" or "columns"), "const", or "as": "index"');
  if (spec.as === 'index' && !item)
    add([...at, 'as'], '"index" only for a field of a group or child record (its position in the array)');
  checkConversion(spec, at, add);
}

function checkConversion(spec: SpecLike, at: Path, add: (p: Path, m: string) => void): void {
  if (spec.as === 'date' || spec.as === 'day') {
    if (spec.format === undefined)
      add(
        [...at, 'format'],
        `a date format such as "${spec.as === 'day' ? 'YYYYMMDD' : 'YYYYMMDDhhmm'}" for "as": "${spec.as}"`,
      );
    else if (!compileFormat(spec.format))
      add(
        [...at, 'format'],
        'a date format with the day (DD), month (MM) and year (YYYY or YY), and optionally hh, mm, ss',
      );
  }
  if (spec.as === 'qty' && (spec.decimals ?? 0) > 3)
    add([...at, 'decimals'], 'at most 3 implied decimals for a quantity');
  if (spec.map !== undefined && spec.as !== 'text')
    add([...at, 'map'], 'a "map" only with "as": "text" (mapped values are used as they are)');
}

function checkReplyField(
  f: SpecLike & { from?: string | undefined },
  allowed: readonly string[],
  contextNames: Set<string>,
  at: Path,
  add: (p: Path, m: string) => void,
): void {
  if ((f.from === undefined) === (f.const === undefined)) add(at, 'exactly one of "from" or "const"');
  if (f.from !== undefined) {
    if (f.from.startsWith('context.')) {
      if (!contextNames.has(f.from.slice(8)))
        add(
          [...at, 'from'],
          `a context name defined by a message: ${[...contextNames].join(', ') || '(none defined)'}`,
        );
      if (f.as !== 'text') add([...at, 'as'], '"text" for a context value (it is echoed as it came)');
    } else if (!allowed.includes(f.from)) {
      add([...at, 'from'], `one of ${allowed.join(', ')}, or context.NAME`);
    }
  }
  checkConversion(f, at, add);
}

function checkDelimited(p: DelimitedProfile, add: (p: Path, m: string) => void): void {
  const req = p.request;
  if (
    req.quote !== undefined &&
    (req.fieldSeparator.includes(req.quote) || (req.recordSeparator ?? '').includes(req.quote))
  )
    add(['request', 'quote'], 'a quote character that is not part of a separator');
  if (
    req.recordSeparator &&
    (req.fieldSeparator.includes(req.recordSeparator) || req.recordSeparator.includes(req.fieldSeparator))
  ) {
    add(['request', 'recordSeparator'], 'a record separator that neither holds nor is part of the field separator');
  }
  for (const [code, m] of Object.entries(req.messages)) {
    const at: Path = ['request', 'messages', code];
    const used = [req.typeField, ...Object.values(m.context).map((c) => c.field), ...positions(m.fields)];
    const first = m.groups[0];
    if (first) {
      if (first.start === undefined) add([...at, 'groups', 0, 'start'], 'the position where the first group starts');
      else if (Math.max(...used) >= first.start)
        add([...at, 'groups', 0, 'start'], 'a start after every other field of the record');
      if (m.fieldCount !== undefined) add([...at, 'fieldCount'], 'no fieldCount with groups (the counts give it)');
    } else if (m.fieldCount !== undefined && m.fieldCount < Math.max(...used)) {
      add([...at, 'fieldCount'], `a field count of at least ${Math.max(...used)} (the highest position used)`);
    }
    m.groups.forEach((g, i) => {
      if (i > 0 && g.start !== undefined)
        add([...at, 'groups', i, 'start'], 'no start: a later group follows the one before');
      if (g.count === 'rest' && i < m.groups.length - 1)
        add([...at, 'groups', i, 'count'], '"prefixed": only the last group may take the rest of the record');
      if (Math.max(0, ...positions(g.fields)) > g.size)
        add([...at, 'groups', i, 'fields'], `positions within the group, from 1 to its size ${g.size}`);
    });
    for (const [cc, c] of Object.entries(m.children)) {
      if (!req.recordSeparator) add([...at, 'children', cc], 'a request recordSeparator (child records need one)');
      const top = Math.max(req.typeField, ...positions(c.fields));
      if (c.fieldCount !== undefined && c.fieldCount < top)
        add([...at, 'children', cc, 'fieldCount'], `a field count of at least ${top} (the highest position used)`);
    }
  }
  const sep = p.reply.recordSeparator ?? req.recordSeparator;
  const typeField = p.reply.typeField ?? req.typeField;
  for (const { rec, at } of replyRecords(p.reply.records)) {
    if (rec.children.length > 0 && !sep) add([...at, 'children'], 'a recordSeparator (child records need one)');
    const g = rec.groups[0];
    if (g) {
      const top = Math.max(typeField, ...rec.fields.map((f) => f.field));
      if (g.start === undefined || g.start <= top)
        add([...at, 'groups', 0, 'start'], `the position where the group starts, after field ${top}`);
      if (Math.max(0, ...g.fields.map((f) => f.field)) > g.size)
        add([...at, 'groups', 0, 'fields'], `positions within the group, from 1 to its size ${g.size}`);
    }
  }
}

function checkFixed(p: FixedProfile, add: (p: Path, m: string) => void): void {
  const req = p.request;
  for (const [code, m] of Object.entries(req.messages)) {
    const at: Path = ['request', 'messages', code];
    for (const [cc, c] of Object.entries(m.children)) {
      if (!req.recordSeparator && !req.recordLength)
        add([...at, 'children', cc], 'a request recordSeparator or recordLength (child records need one)');
      checkColumns(Object.values(c.fields), req.recordLength, [...at, 'children', cc, 'fields'], add);
    }
    checkColumns([...Object.values(m.fields), ...Object.values(m.context)], req.recordLength, [...at, 'fields'], add);
  }
  const len = p.reply.recordLength ?? req.recordLength;
  const sep = p.reply.recordSeparator ?? req.recordSeparator;
  for (const { rec, at } of replyRecords(p.reply.records)) {
    if (rec.children.length > 0 && !sep && !len)
      add([...at, 'children'], 'a recordSeparator or recordLength (child records need one)');
    checkColumns(rec.fields, len, [...at, 'fields'], add);
    rec.children.forEach((c, i) => checkColumns(c.fields, len, [...at, 'children', i, 'fields'], add));
  }
}

function checkColumns(
  specs: { columns?: [number, number] | undefined }[],
  recordLength: number | undefined,
  at: Path,
  add: (p: Path, m: string) => void,
): void {
  if (recordLength === undefined) return;
  for (const s of specs) {
    if (s.columns && s.columns[0] + s.columns[1] - 1 > recordLength) {
      add(at, `columns that end within the ${recordLength}-byte record`);
      return;
    }
  }
}

function positions(fields: Record<string, { field?: number | number[] | undefined }>): number[] {
  const out: number[] = [];
  for (const f of Object.values(fields)) {
    if (typeof f.field === 'number') out.push(f.field);
    else if (f.field) out.push(...f.field);
  }
  return out;
}
