import { TbCodes, type RegisterReply } from '@tillbridge/shared';
import { typeCode, type Failure, type ItemReader, type Reader, type RecordSyntax } from './frame.js';
import { fitText } from './fields.js';
import type {
  DelimitedMessageDef,
  DelimitedProfile,
  DelimitedReplyFieldSpec,
  DelimitedReplyRecordDef,
  Encoding,
  RecordProfile,
} from './profile.js';
import { otherFormat, RecordCodec } from './record-codec.js';
import { replyLines, replyText, type Echo, type Item } from './reply.js';
import { decodeText, encodeText, encodingName, writable } from './text.js';
import { splitDelimited } from './tokenize.js';

interface Source {
  field?: number | number[] | undefined;
  joinWith?: string | undefined;
}

/** Reads the fields of one record, from `base` on (a repeated group's item starts past 0). */
class FieldsReader implements Reader<Source> {
  constructor(
    private readonly fields: string[],
    private readonly base: number,
  ) {}

  read(s: Source): string | { problem: string } {
    const parts: string[] = [];
    for (const p of positions(s)) {
      const v = this.fields[this.base + p - 1];
      if (v === undefined) return { problem: `the record has only ${this.fields.length} fields` };
      parts.push(v);
    }
    return parts.join(s.joinWith ?? '');
  }

  where(s: Source): string {
    const ps = positions(s).map((p) => this.base + p);
    return ps.length === 1 ? `field ${ps[0]}` : `fields ${ps.join('+')}`;
  }
}

function positions(s: Source): number[] {
  return typeof s.field === 'number' ? [s.field] : (s.field ?? []);
}

/**
 * A legacy register format of separated fields (`S|000123|…`), described by a record profile
 * (docs/legacy-profiles.md): records split by an optional record separator, fields by the field
 * separator (optionally quoted), repeated groups counted by a field, child records after their
 * message record.
 */
export class DelimitedCodec extends RecordCodec<
  DelimitedProfile,
  string[],
  Source,
  DelimitedMessageDef,
  DelimitedReplyRecordDef,
  string
> {
  private readonly out: {
    encoding: Encoding;
    fieldSeparator: string;
    recordSeparator: string;
    quote: string | undefined;
    typeField: number;
  };

  constructor(profile: RecordProfile) {
    super(profile.format === 'delimited' ? profile : otherFormat(profile));
    const req = this.p.request;
    const rep = this.p.reply;
    this.out = {
      encoding: rep.encoding ?? req.encoding,
      fieldSeparator: rep.fieldSeparator ?? req.fieldSeparator,
      recordSeparator: rep.recordSeparator ?? req.recordSeparator ?? '',
      quote: rep.quote ?? req.quote,
      typeField: rep.typeField ?? req.typeField,
    };
  }

  protected override join(records: string[]): Buffer {
    return encodeText(records.join(this.out.recordSeparator), this.out.encoding);
  }

  protected override requestSyntax(): RecordSyntax<string[], Source, DelimitedMessageDef> {
    const req = this.p.request;
    const highest = (fields: Record<string, Source>, extra: number[]) =>
      Math.max(req.typeField, ...extra, ...Object.values(fields).flatMap(positions));
    const count = (rec: string[], expected: number, label: string): Failure | undefined =>
      rec.length === expected
        ? undefined
        : { code: TbCodes.MALFORMED, message: `${label}: ${fieldsText(rec)}, expected ${expected}` };
    return {
      split: (payload) => {
        const text = decodeText(payload, req.encoding);
        if (text === undefined)
          return { code: TbCodes.MALFORMED, message: `the frame is not valid ${encodingName(req.encoding)}` };
        return splitDelimited(
          text,
          req.fieldSeparator,
          req.recordSeparator === '' ? undefined : req.recordSeparator,
          req.quote,
        );
      },
      code: (rec, label) => {
        return typeCode(rec[req.typeField - 1]?.trim(), label, `field ${req.typeField}`);
      },
      openMessage: (rec, def, label) => {
        if (def.groups.length === 0) {
          const bad = count(
            rec,
            def.fieldCount ??
              highest(
                def.fields,
                Object.values(def.context).map((c) => c.field),
              ),
            label,
          );
          return bad ?? { header: new FieldsReader(rec, 0), items: [] };
        }
        return this.groups(rec, def, label);
      },
      reader: (rec) => new FieldsReader(rec, 0),
      openChild: (rec, def, label) => {
        const child = def as { fieldCount?: number | undefined; fields: Record<string, Source> };
        return count(rec, child.fieldCount ?? highest(child.fields, []), label) ?? new FieldsReader(rec, 0);
      },
    };
  }

  /** Finds the items of a record's repeated groups; the counts must account for every field. */
  private groups(
    rec: string[],
    def: DelimitedMessageDef,
    label: string,
  ): { header: Reader<Source>; items: ItemReader<Source>[] } | Failure {
    const items: ItemReader<Source>[] = [];
    let pos = def.groups[0]?.start ?? 1;
    for (const g of def.groups) {
      let n: number;
      if (g.count === 'prefixed') {
        const raw = rec[pos - 1];
        if (raw === undefined)
          return {
            code: TbCodes.MALFORMED,
            message: `${label}: ${fieldsText(rec)}, too few for the ${g.into} count at field ${pos}`,
          };
        const t = raw.trim();
        if (!/^\d{1,6}$/.test(t))
          return {
            code: TbCodes.INVALID,
            message: `${label}, ${g.into} count at field ${pos}: expected a number of items`,
          };
        n = Number(t);
        pos++;
      } else {
        const rest = rec.length - (pos - 1);
        if (rest < 0 || rest % g.size !== 0)
          return {
            code: TbCodes.MALFORMED,
            message: `${label}: ${fieldsText(rec)}, expected ${pos - 1} and then groups of ${g.size}`,
          };
        n = rest / g.size;
      }
      if (n > g.max) return { code: TbCodes.INVALID, message: `${label}, ${g.into} count: expected at most ${g.max}` };
      if (pos - 1 + n * g.size > rec.length)
        return { code: TbCodes.MALFORMED, message: `${label}: ${fieldsText(rec)}, too few for ${n} ${g.into}` };
      for (let k = 0; k < n; k++)
        items.push({ into: g.into, fields: g.fields, reader: new FieldsReader(rec, pos - 1 + k * g.size) });
      pos += n * g.size;
    }
    if (pos - 1 !== rec.length)
      return { code: TbCodes.MALFORMED, message: `${label}: ${fieldsText(rec)}, expected ${pos - 1}` };
    return { header: new FieldsReader(rec, 0), items };
  }

  protected override render(
    layout: DelimitedReplyRecordDef,
    reply: RegisterReply,
    echo: Echo,
    strict: boolean,
  ): string[] | undefined {
    const main: string[] = [];
    main[this.out.typeField - 1] = this.escape(writable(layout.code, this.out.encoding));
    if (!this.put(main, 0, layout.fields, reply, undefined, echo, strict)) return undefined;
    const lines = replyLines(reply);
    const g = layout.groups[0];
    if (g) {
      let pos = g.start ?? main.length + 1;
      if (g.count === 'prefixed') {
        const n = fitText(String(lines.length), { width: g.countWidth ?? String(lines.length).length, numeric: true });
        if (n === undefined && strict) return undefined;
        main[pos - 1] = n ?? '';
        pos++;
      }
      for (let k = 0; k < lines.length; k++) {
        if (!this.put(main, pos - 1 + k * g.size, g.fields, reply, lines[k], echo, strict)) return undefined;
      }
      pos += lines.length * g.size;
      if (main.length < pos - 1) main[pos - 2] = main[pos - 2] ?? '';
    }
    const records = [join(main, this.out.fieldSeparator)];
    for (const c of layout.children) {
      for (const item of lines) {
        const rec: string[] = [];
        rec[this.out.typeField - 1] = this.escape(writable(c.code, this.out.encoding));
        if (!this.put(rec, 0, c.fields, reply, item, echo, strict)) return undefined;
        records.push(join(rec, this.out.fieldSeparator));
      }
    }
    return records;
  }

  /** Writes each field at base + its position; false when a value cannot be written in strict mode. */
  private put(
    rec: string[],
    base: number,
    fields: DelimitedReplyFieldSpec[],
    reply: RegisterReply,
    item: Item | undefined,
    echo: Echo,
    strict: boolean,
  ): boolean {
    for (const f of fields) {
      const v = replyText(f, reply, item, echo, this.units);
      let text = v === undefined ? undefined : writable(v.text, this.out.encoding);
      if (v !== undefined && text !== undefined && f.width !== undefined)
        text = fitText(text, { width: f.width, numeric: v.numeric, align: f.align, pad: f.pad });
      if (text !== undefined && f.maxLength !== undefined) text = Array.from(text).slice(0, f.maxLength).join('');
      if (text === undefined && strict) return false;
      rec[base + f.field - 1] = this.escape(text ?? '');
    }
    return true;
  }

  /** A value that holds a separator is quoted (when the profile has a quote) or has it blanked. */
  private escape(text: string): string {
    const { fieldSeparator: fs, recordSeparator: rs, quote: q } = this.out;
    const special = [fs, rs, q].filter((s): s is string => !!s);
    if (!special.some((s) => text.includes(s))) return text;
    if (q !== undefined) return q + text.split(q).join(q + q) + q;
    let out = text;
    for (const s of special) out = out.split(s).join(' '.repeat(s.length));
    return out;
  }
}

function fieldsText(rec: string[]): string {
  return `${rec.length} field${rec.length === 1 ? '' : 's'}`;
}

/** Joins a record's fields; a field no reply field was written to (a hole) is empty. */
function join(fields: readonly (string | undefined)[], sep: string): string {
  return Array.from(fields, (f) => f ?? '').join(sep);
}
