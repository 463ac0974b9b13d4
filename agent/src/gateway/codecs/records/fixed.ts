import { TbCodes, type RegisterReply } from '@tillbridge/shared';
import { typeCode, type Failure, type Reader, type RecordSyntax } from './frame.js';
import { fitText } from './fields.js';
import type {
  Encoding,
  FixedMessageDef,
  FixedProfile,
  FixedReplyFieldSpec,
  FixedReplyRecordDef,
  RecordProfile,
} from './profile.js';
import { otherFormat, RecordCodec } from './record-codec.js';
import { replyLines, replyText, type Echo, type Item } from './reply.js';
import { decodeText, encodeText, encodingName, writable } from './text.js';

interface Source {
  columns?: [number, number] | undefined;
}

const span = ([s, l]: [number, number]) => `columns ${s}-${s + l - 1}`;

class ColumnsReader implements Reader<Source> {
  constructor(
    private readonly rec: Buffer,
    private readonly enc: Encoding,
  ) {}

  read(s: Source): string | { problem: string } {
    const [start, len] = s.columns ?? [1, 0];
    if (start - 1 + len > this.rec.length)
      return { problem: `the record is ${this.rec.length} bytes, too short for ${span([start, len])}` };
    const text = decodeText(this.rec.subarray(start - 1, start - 1 + len), this.enc);
    return text ?? { problem: `not valid ${encodingName(this.enc)} on its own` };
  }

  where(s: Source): string {
    return s.columns ? span(s.columns) : 'no columns';
  }
}

/**
 * A legacy register format of fixed-width records (an 80-column card image and the like),
 * described by a record profile (docs/legacy-profiles.md): records split by a separator or by
 * their length, fields by 1-based [start, length] columns, child records after their message
 * record.
 */
export class FixedCodec extends RecordCodec<
  FixedProfile,
  Buffer,
  Source,
  FixedMessageDef,
  FixedReplyRecordDef,
  Buffer
> {
  private readonly out: {
    encoding: Encoding;
    recordSeparator: Buffer;
    recordLength: number | undefined;
    typeColumns: [number, number];
  };

  constructor(profile: RecordProfile) {
    super(profile.format === 'fixed' ? profile : otherFormat(profile));
    const req = this.p.request;
    const rep = this.p.reply;
    const encoding = rep.encoding ?? req.encoding;
    this.out = {
      encoding,
      recordSeparator: encodeText(rep.recordSeparator ?? req.recordSeparator ?? '', encoding),
      recordLength: rep.recordLength ?? req.recordLength,
      typeColumns: rep.typeColumns ?? req.typeColumns,
    };
  }

  protected override join(records: Buffer[]): Buffer {
    const parts: Buffer[] = [];
    records.forEach((rec, i) => parts.push(...(i > 0 ? [this.out.recordSeparator, rec] : [rec])));
    return Buffer.concat(parts);
  }

  protected override requestSyntax(): RecordSyntax<Buffer, Source, FixedMessageDef> {
    const req = this.p.request;
    const sep = req.recordSeparator ? encodeText(req.recordSeparator, req.encoding) : undefined;
    /** The record must reach the end of every column its layout reads. */
    const fits = (rec: Buffer, specs: [string, Source][], label: string): Failure | undefined => {
      if (sep && req.recordLength !== undefined && rec.length > req.recordLength) {
        return {
          code: TbCodes.MALFORMED,
          message: `${label} is ${rec.length} bytes, longer than the ${req.recordLength}-byte record`,
        };
      }
      for (const [name, s] of specs) {
        if (s.columns && s.columns[0] - 1 + s.columns[1] > rec.length) {
          return {
            code: TbCodes.MALFORMED,
            message: `${label} is ${rec.length} bytes, too short for ${name} (${span(s.columns)})`,
          };
        }
      }
      return undefined;
    };
    return {
      split: (payload) => {
        if (decodeText(payload, req.encoding) === undefined)
          return { code: TbCodes.MALFORMED, message: `the frame is not valid ${encodingName(req.encoding)}` };
        const records: Buffer[] = [];
        if (sep) {
          let start = 0;
          for (let i = payload.indexOf(sep); i !== -1; i = payload.indexOf(sep, start)) {
            records.push(payload.subarray(start, i));
            start = i + sep.length;
          }
          records.push(payload.subarray(start));
        } else if (req.recordLength !== undefined) {
          for (let i = 0; i < payload.length; i += req.recordLength)
            records.push(payload.subarray(i, i + req.recordLength));
        } else records.push(payload);
        return records.filter((r) => r.length > 0);
      },
      code: (rec, label) => {
        const [s, l] = req.typeColumns;
        if (rec.length < s - 1 + l)
          return {
            code: TbCodes.MALFORMED,
            message: `${label} is ${rec.length} bytes, too short for its type code (${span(req.typeColumns)})`,
          };
        return typeCode(decodeText(rec.subarray(s - 1, s - 1 + l), req.encoding)?.trim(), label, span(req.typeColumns));
      },
      openMessage: (rec, def, label) =>
        fits(
          rec,
          [
            ...Object.entries(def.fields),
            ...Object.entries(def.context).map(([n, c]): [string, Source] => [`context ${n}`, c]),
          ],
          label,
        ) ?? {
          header: new ColumnsReader(rec, req.encoding),
          items: [],
        },
      reader: (rec) => new ColumnsReader(rec, req.encoding),
      openChild: (rec, def, label) =>
        fits(
          rec,
          Object.entries(def.fields).map(([n, f]): [string, Source] => [`${def.into}[].${n}`, f]),
          label,
        ) ?? new ColumnsReader(rec, req.encoding),
    };
  }

  protected override render(
    layout: FixedReplyRecordDef,
    reply: RegisterReply,
    echo: Echo,
    strict: boolean,
  ): Buffer[] | undefined {
    const main = this.record(layout.code, layout.fields, reply, undefined, echo, strict);
    if (!main) return undefined;
    const records = [main];
    for (const c of layout.children) {
      for (const item of replyLines(reply)) {
        const rec = this.record(c.code, c.fields, reply, item, echo, strict);
        if (!rec) return undefined;
        records.push(rec);
      }
    }
    return records;
  }

  private record(
    code: string,
    fields: FixedReplyFieldSpec[],
    reply: RegisterReply,
    item: Item | undefined,
    echo: Echo,
    strict: boolean,
  ): Buffer | undefined {
    const end = ([s, l]: [number, number]) => s - 1 + l;
    const length = this.out.recordLength ?? Math.max(end(this.out.typeColumns), ...fields.map((f) => end(f.columns)));
    const buf = Buffer.alloc(length, 0x20);
    this.write(buf, this.out.typeColumns, code);
    for (const f of fields) {
      const v = replyText(f, reply, item, echo, this.units);
      const text =
        v === undefined
          ? undefined
          : fitText(writable(v.text, this.out.encoding), {
              width: f.columns[1],
              numeric: v.numeric,
              align: f.align,
              pad: f.pad,
            });
      if (text === undefined && strict) return undefined;
      this.write(buf, f.columns, text ?? '');
    }
    return buf;
  }

  /** Writes text into its columns, cut to whole characters that fit (UTF-8 may need more bytes than characters). */
  private write(buf: Buffer, [start, len]: [number, number], text: string): void {
    let chars = Array.from(writable(text, this.out.encoding));
    let bytes = encodeText(chars.join(''), this.out.encoding);
    while (bytes.length > len) {
      chars = chars.slice(0, -1);
      bytes = encodeText(chars.join(''), this.out.encoding);
    }
    bytes.copy(buf, start - 1, 0, Math.min(bytes.length, buf.length - (start - 1)));
  }
}
