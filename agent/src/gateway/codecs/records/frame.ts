import { createHash } from 'node:crypto';
import { derivedId, TbCodes } from '@tillbridge/shared';
import type { DecodeResult } from '../../types.js';
import { MESSAGE_SHAPES, type ArrayName, type MessageType } from './canonical-fields.js';
import { parseField, type Conversion, type Units } from './fields.js';

/**
 * The part of decoding both record codecs share: a frame is a sequence of records; a record
 * whose type code names a message starts one, and the child records after it (lines, tenders)
 * add items to it. Each codec supplies how records are split, read and checked.
 */

export interface Failure {
  code: string;
  message: string;
}

/** A record's type code, read and trimmed; a failure saying `where` it was looked for when there is none. */
export function typeCode(text: string | undefined, label: string, where: string): string | Failure {
  return text === undefined || text === ''
    ? { code: TbCodes.MALFORMED, message: `${label}: no type code at ${where}` }
    : text;
}

export type ReadResult = string | { problem: string };

/** Reads a field's raw text out of one record (or one item of a repeated group). */
export interface Reader<S> {
  read(source: S): ReadResult;
  /** Where a field is, for messages: "field 9", "columns 34-42". */
  where(source: S): string;
}

export type FieldSpec<S> = S & Conversion & { const?: string | number | undefined };

export interface ItemReader<S> {
  into: ArrayName;
  fields: Record<string, FieldSpec<S>>;
  reader: Reader<S>;
}

export interface MessageLayout<S> {
  type: MessageType;
  context: Record<string, S>;
  fields: Record<string, FieldSpec<S>>;
  children: Record<string, { into: ArrayName; fields: Record<string, FieldSpec<S>> }>;
  /** Repeated groups within the record (delimited profiles). */
  groups?: readonly { into: ArrayName }[];
}

export interface RecordSyntax<R, S, M extends MessageLayout<S>> {
  split(payload: Buffer): R[] | Failure;
  /** The record's type code (trimmed), or why it has none. */
  code(rec: R, label: string): string | Failure;
  /** Checks the record against its message layout; the header reader and the items of its groups. */
  openMessage(rec: R, def: M, label: string): { header: Reader<S>; items: ItemReader<S>[] } | Failure;
  openChild(rec: R, def: { into: ArrayName; fields: Record<string, FieldSpec<S>> }, label: string): Reader<S> | Failure;
  /** A reader with no checks, to find the id of a record that failed them. */
  reader(rec: R): Reader<S>;
}

/** What `decode` hands `encode` with the replies: per message, the raw text of its context fields. */
export interface RecordContext {
  readonly records: readonly (Readonly<Record<string, string>> | undefined)[];
}

export function isRecordContext(v: unknown): v is RecordContext {
  return typeof v === 'object' && v !== null && Array.isArray((v as RecordContext).records);
}

interface Building {
  msg: Record<string, unknown>;
  def: MessageLayout<unknown>;
  context: Record<string, string>;
}

const isFailure = (v: unknown): v is Failure =>
  typeof v === 'object' && v !== null && 'code' in v && 'message' in v && !('header' in v);

export function decodeFrame<R, S, M extends MessageLayout<S>>(
  payload: Buffer,
  syntax: RecordSyntax<R, S, M>,
  messages: Record<string, M>,
  units: Units,
): DecodeResult {
  const records = syntax.split(payload);
  if (!Array.isArray(records)) return { kind: 'error', ...records };
  const built: Building[] = [];
  let digest: string | undefined;
  const frameId = (i: number) =>
    derivedId('tillbridge.record-frame', (digest ??= createHash('sha256').update(payload).digest('hex')), String(i));
  const codes = Object.keys(messages).join(', ');

  for (const [r, rec] of records.entries()) {
    const code = syntax.code(rec, `record ${r + 1}`);
    if (typeof code !== 'string') return { kind: 'error', ...code };
    const label = `record ${r + 1} (${code})`;
    const current = built[built.length - 1];
    const def = Object.hasOwn(messages, code) ? messages[code] : undefined;
    if (def) {
      const opened = syntax.openMessage(rec, def, label);
      const hasId = Object.hasOwn(def.fields, 'id');
      if (isFailure(opened))
        return fail(opened, hasId ? bestEffortId(syntax.reader(rec), def.fields.id, units) : frameId(built.length));
      const b: Building = { msg: { type: def.type }, def: def, context: {} };
      for (const [name, src] of Object.entries(def.context)) {
        const raw = opened.header.read(src);
        if (typeof raw !== 'string')
          return fail(
            {
              code: TbCodes.MALFORMED,
              message: `${label}, context ${name} (${opened.header.where(src)}): ${raw.problem}`,
            },
            undefined,
          );
        b.context[name] = raw;
      }
      const problem = fill(b.msg, def.fields, opened.header, units, label, '', undefined);
      if (!hasId) b.msg.id = frameId(built.length);
      if (problem) return fail(problem, b.msg.id);
      // where the profile maps the id, the register numbers its messages: a blank number is a broken frame
      if (b.msg.id === undefined && def.fields.id)
        return fail(
          {
            code: TbCodes.INVALID,
            message: `${label}, id (${opened.header.where(def.fields.id)}): expected the message id`,
          },
          undefined,
        );
      for (const [name, arr] of Object.entries(MESSAGE_SHAPES[def.type].arrays)) {
        const fed =
          arr.required ||
          (def.groups ?? []).some((g) => g.into === name) ||
          Object.values(def.children).some((c) => c.into === name);
        if (fed) b.msg[name] = [];
      }
      for (const item of opened.items) {
        const p = addItem(b, item.into, item.fields, item.reader, units, label);
        if (p) return fail(p, b.msg.id);
      }
      built.push(b);
    } else if (current && Object.hasOwn(current.def.children, code)) {
      const child = current.def.children[code] as { into: ArrayName; fields: Record<string, FieldSpec<S>> };
      const reader = syntax.openChild(rec, child, label);
      if (isFailure(reader)) return fail(reader, current.msg.id);
      const p = addItem(current, child.into, child.fields, reader, units, label);
      if (p) return fail(p, current.msg.id);
    } else {
      const why = isChildCode(messages, code)
        ? 'a child record with no message record of its kind before it'
        : `a type code this profile does not know (messages: ${codes})`;
      return fail({ code: TbCodes.MALFORMED, message: `record ${r + 1}: ${why}` }, current?.msg.id);
    }
  }
  if (built.length === 0) return { kind: 'error', code: TbCodes.MALFORMED, message: 'the frame holds no record' };
  return {
    kind: 'messages',
    messages: built.map((b) => b.msg),
    context: { records: built.map((b) => b.context) } satisfies RecordContext,
  };
}

function fail(f: Failure, id: unknown): DecodeResult {
  return typeof id === 'string'
    ? { kind: 'error', id, code: f.code, message: f.message }
    : { kind: 'error', code: f.code, message: f.message };
}

/** The id of a record that failed its checks, when its id field can still be read. */
function bestEffortId<S>(reader: Reader<S>, spec: FieldSpec<S> | undefined, units: Units): string | undefined {
  if (!spec) return undefined;
  const raw = reader.read(spec);
  const parsed = typeof raw === 'string' ? parseField(raw, spec, units) : undefined;
  return parsed?.ok && typeof parsed.value === 'string' && parsed.value.length <= 128 ? parsed.value : undefined;
}

function isChildCode(messages: Record<string, MessageLayout<unknown>>, code: string): boolean {
  return Object.values(messages).some((m) => Object.hasOwn(m.children, code));
}

function addItem<S>(
  b: Building,
  into: ArrayName,
  fields: Record<string, FieldSpec<S>>,
  reader: Reader<S>,
  units: Units,
  label: string,
): Failure | undefined {
  const arr = b.msg[into] as Record<string, unknown>[];
  if (arr.length >= 1000) return { code: TbCodes.INVALID, message: `${label}: more than 1000 ${into}` };
  const item: Record<string, unknown> = {};
  const problem = fill(item, fields, reader, units, label, `${into}[${arr.length}].`, arr.length + 1);
  if (problem) return problem;
  arr.push(item);
  return undefined;
}

/** Converts each mapped field into `target` (`id` first, so a later failure can name the message). */
function fill<S>(
  target: Record<string, unknown>,
  fields: Record<string, FieldSpec<S>>,
  reader: Reader<S>,
  units: Units,
  label: string,
  prefix: string,
  index: number | undefined,
): Failure | undefined {
  const entries = Object.entries(fields).sort(([a], [b]) => Number(b === 'id') - Number(a === 'id'));
  for (const [key, spec] of entries) {
    let value: unknown;
    if (spec.const !== undefined) value = spec.const;
    else if (spec.as === 'index') value = index;
    else {
      const raw = reader.read(spec);
      const at = `${label}, ${prefix}${key} (${reader.where(spec)})`;
      if (typeof raw !== 'string') return { code: TbCodes.MALFORMED, message: `${at}: ${raw.problem}` };
      const parsed = parseField(raw, spec, units);
      if (!parsed.ok) return { code: TbCodes.INVALID, message: `${at}: expected ${parsed.expected}` };
      value = parsed.value;
    }
    if (value !== undefined) setPath(target, key, value);
  }
  return undefined;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parents = path.split('.');
  const leaf = parents.pop() ?? path;
  let obj = target;
  for (const p of parents) {
    if (typeof obj[p] !== 'object' || obj[p] === null) obj[p] = {};
    obj = obj[p] as Record<string, unknown>;
  }
  obj[leaf] = value;
}
