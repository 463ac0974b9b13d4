import * as z from 'zod';
import { ARRAY_NAMES, MESSAGE_TYPES } from './canonical-fields.js';
import { checkProfile } from './profile-checks.js';
import { isTimeZone } from './dates.js';

/**
 * A record profile: a legacy register's record format, described entirely in configuration
 * (docs/legacy-profiles.md, key by key). Positions are 1-based everywhere: field 1 is the first
 * field of a delimited record, column 1 the first byte of a fixed record.
 */

const whole = 'a whole number';
const Position = z
  .number()
  .int(whole)
  .min(1, 'a field position from 1 (the first field)')
  .max(999, 'a field position up to 999');
const Columns = z.tuple(
  [
    z.number().int(whole).min(1, 'a start column from 1 (the first byte)').max(65_535, 'a start column up to 65535'),
    z.number().int(whole).min(1, 'a length of 1 byte or more').max(4096, 'a length up to 4096 bytes'),
  ],
  'columns as [start, length], e.g. [11, 8] for bytes 11-18',
);
const Code = z.string().min(1, 'a type code of 1-16 characters').max(16, 'a type code of 1-16 characters');
const Scalar = z.union([z.string().max(200, 'at most 200 characters'), z.number()], 'a string or a number');
const ValueMap = z.record(
  z.string().max(64, 'a key of at most 64 characters'),
  Scalar,
  'an object mapping codes to values, e.g. {"01": "cash"}',
);
const Separator = z.string().max(4, 'at most 4 characters');
const Encoding = z.enum(['latin1', 'ascii', 'utf8'], 'one of "latin1", "ascii", "utf8"');
const ContextName = z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,31}$/, 'a name of letters, digits and "_"');

/** How a request field's text becomes a canonical value. */
const conversion = {
  as: z
    .enum(
      ['text', 'int', 'money', 'qty', 'date', 'day', 'index'],
      'one of "text", "int", "money", "qty", "date", "day", "index"',
    )
    .default('text'),
  /** Implied decimals: money defaults to the currency's (`currencyDecimals`), qty to 0. */
  decimals: z
    .number()
    .int(whole)
    .min(0, 'from 0 to 6 implied decimals')
    .max(6, 'from 0 to 6 implied decimals')
    .optional(),
  format: z
    .string()
    .min(1, 'a date format such as "YYYYMMDDhhmm"')
    .max(40, 'a date format of at most 40 characters')
    .optional(),
  trim: z.enum(['both', 'start', 'end', 'none'], 'one of "both", "start", "end", "none"').default('both'),
  map: ValueMap.optional(),
  mapDefault: Scalar.optional(),
  const: Scalar.optional(),
};

/** How a reply value becomes a field's text. */
const replyConversion = {
  from: z.string().min(1, 'a reply value such as "id" or "context.seq"').max(64, 'at most 64 characters').optional(),
  const: Scalar.optional(),
  as: z.enum(['text', 'int', 'money', 'qty', 'date'], 'one of "text", "int", "money", "qty", "date"').default('text'),
  decimals: conversion.decimals,
  format: conversion.format,
  map: ValueMap.optional(),
  mapDefault: Scalar.optional(),
  /** Written when the reply has no such value (no context, no id). */
  default: z.string().max(200, 'at most 200 characters').optional(),
  align: z.enum(['left', 'right'], 'one of "left", "right"').optional(),
  pad: z.string().length(1, 'one padding character').optional(),
};

/** A reply record's values per line of the reply: they come from its `lines`. */
const FromLines = z.literal('lines', 'the reply\'s "lines"').default('lines');

/** A reply record's child records: one kind at most, one record per line of the reply. */
const ReplyChildren = <T extends z.ZodType>(field: T) =>
  z
    .array(
      z.strictObject({
        code: Code,
        from: FromLines,
        fields: z.array(field).max(100, 'at most 100 fields'),
      }),
    )
    .max(1, 'at most one child record kind')
    .default([]);

// ---- delimited ----

const DelimitedField = z
  .strictObject({
    field: z.union(
      [Position, z.array(Position).min(1, 'at least one position').max(8, 'at most 8 positions')],
      'a field position from 1, or a list of positions to join',
    ),
    joinWith: z.string().max(8, 'at most 8 characters').default(''),
    ...conversion,
  })
  .partial({ field: true });

const DelimitedFields = z.record(z.string(), DelimitedField, 'an object of canonical field → {"field": n, …}');

const DelimitedGroup = z.strictObject({
  into: z.enum(ARRAY_NAMES, 'one of "lines", "tenders"'),
  /**
   * Where the group starts (its count field, or its first item for `rest`); only the first group: later ones follow the
   * one before.
   */
  start: Position.optional(),
  count: z.enum(['prefixed', 'rest'], 'one of "prefixed", "rest"').default('prefixed'),
  size: z.number().int(whole).min(1, 'a group size of 1 field or more').max(50, 'a group size up to 50 fields'),
  max: z.number().int(whole).min(1, 'at least 1').max(1000, 'at most 1000').default(1000),
  fields: DelimitedFields,
});

const DelimitedChild = z.strictObject({
  into: z.enum(ARRAY_NAMES, 'one of "lines", "tenders"'),
  fieldCount: Position.optional(),
  fields: DelimitedFields,
});

const DelimitedMessage = z.strictObject({
  type: z.enum(MESSAGE_TYPES, `one of ${MESSAGE_TYPES.join(', ')}`),
  context: z.record(ContextName, z.strictObject({ field: Position }), 'an object of name → {"field": n}').default({}),
  fields: DelimitedFields.default({}),
  groups: z.array(DelimitedGroup).max(4, 'at most 4 groups').default([]),
  children: z.record(Code, DelimitedChild, 'an object of type code → child record').default({}),
  fieldCount: Position.optional(),
});

const DelimitedReplyField = z.strictObject({
  field: Position,
  width: z.number().int(whole).min(1, 'a width from 1').max(999, 'a width up to 999').optional(),
  maxLength: z.number().int(whole).min(1, 'a length from 1').max(999, 'a length up to 999').optional(),
  ...replyConversion,
});

const DelimitedReplyRecord = z.strictObject({
  code: Code,
  fields: z.array(DelimitedReplyField).max(100, 'at most 100 fields').default([]),
  groups: z
    .array(
      z.strictObject({
        from: FromLines,
        start: Position.optional(),
        count: z.enum(['prefixed', 'rest'], 'one of "prefixed", "rest"').default('prefixed'),
        countWidth: z.number().int(whole).min(1, 'a width from 1').max(9, 'a width up to 9').optional(),
        size: z.number().int(whole).min(1, 'a group size of 1 field or more').max(50, 'a group size up to 50 fields'),
        fields: z.array(DelimitedReplyField).max(50, 'at most 50 fields'),
      }),
    )
    .max(1, 'at most one group')
    .default([]),
  children: ReplyChildren(DelimitedReplyField),
});

const ReplyRecords = <T extends z.ZodType>(rec: T) =>
  z.strictObject({
    ack: rec,
    error: rec,
    'return.decision': rec.optional(),
    receipt: rec.optional(),
  });

const DelimitedProfile = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a name of 1-64 letters, digits, ".", "_" or "-"'),
  description: z.string().max(500, 'at most 500 characters').optional(),
  format: z.literal('delimited'),
  timeZone: z
    .string()
    .refine(isTimeZone, 'a time zone: "UTC", an offset such as "+01:00", or an IANA name such as "Europe/Berlin"')
    .default('UTC'),
  currencyDecimals: z.number().int(whole).min(0, 'from 0 to 4').max(4, 'from 0 to 4').default(2),
  request: z.strictObject({
    encoding: Encoding.default('latin1'),
    fieldSeparator: Separator.min(1, 'a separator of 1-4 characters').default('|'),
    recordSeparator: Separator.optional(),
    quote: z.string().length(1, 'one quote character').optional(),
    typeField: Position.default(1),
    messages: z.record(Code, DelimitedMessage, 'an object of type code → message record'),
  }),
  reply: z.strictObject({
    encoding: Encoding.optional(),
    fieldSeparator: Separator.min(1, 'a separator of 1-4 characters').optional(),
    recordSeparator: Separator.optional(),
    quote: z.string().length(1, 'one quote character').optional(),
    typeField: Position.optional(),
    records: ReplyRecords(DelimitedReplyRecord),
  }),
});

// ---- fixed ----

const FixedField = z.strictObject({ columns: Columns, ...conversion }).partial({ columns: true });
const FixedFields = z.record(z.string(), FixedField, 'an object of canonical field → {"columns": [start, length], …}');

const FixedMessage = z.strictObject({
  type: z.enum(MESSAGE_TYPES, `one of ${MESSAGE_TYPES.join(', ')}`),
  context: z
    .record(ContextName, z.strictObject({ columns: Columns }), 'an object of name → {"columns": [start, length]}')
    .default({}),
  fields: FixedFields.default({}),
  children: z
    .record(
      Code,
      z.strictObject({ into: z.enum(ARRAY_NAMES, 'one of "lines", "tenders"'), fields: FixedFields }),
      'an object of type code → child record',
    )
    .default({}),
});

const FixedReplyField = z.strictObject({ columns: Columns, ...replyConversion });
const FixedReplyRecord = z.strictObject({
  code: Code,
  fields: z.array(FixedReplyField).max(100, 'at most 100 fields').default([]),
  children: ReplyChildren(FixedReplyField),
});

const RecordLength = z
  .number()
  .int(whole)
  .min(1, 'a record length from 1 byte')
  .max(65_535, 'a record length up to 65535 bytes');

const FixedProfile = z.strictObject({
  name: DelimitedProfile.shape.name,
  description: DelimitedProfile.shape.description,
  format: z.literal('fixed'),
  timeZone: DelimitedProfile.shape.timeZone,
  currencyDecimals: DelimitedProfile.shape.currencyDecimals,
  request: z.strictObject({
    encoding: Encoding.default('latin1'),
    recordSeparator: Separator.optional(),
    recordLength: RecordLength.optional(),
    typeColumns: Columns.default([1, 1]),
    messages: z.record(Code, FixedMessage, 'an object of type code → message record'),
  }),
  reply: z.strictObject({
    encoding: Encoding.optional(),
    recordSeparator: Separator.optional(),
    recordLength: RecordLength.optional(),
    typeColumns: Columns.optional(),
    records: ReplyRecords(FixedReplyRecord),
  }),
});

export const RecordProfileSchema = z
  .discriminatedUnion('format', [DelimitedProfile, FixedProfile], 'a format: "delimited" or "fixed"')
  .superRefine((p, ctx) => {
    for (const issue of checkProfile(p)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  });

export type RecordProfile = z.output<typeof RecordProfileSchema>;
export type DelimitedProfile = z.output<typeof DelimitedProfile>;
export type FixedProfile = z.output<typeof FixedProfile>;
export type Encoding = z.output<typeof Encoding>;
export type DelimitedMessageDef = z.output<typeof DelimitedMessage>;
export type FixedMessageDef = z.output<typeof FixedMessage>;
export type DelimitedReplyFieldSpec = z.output<typeof DelimitedReplyField>;
export type FixedReplyFieldSpec = z.output<typeof FixedReplyField>;
export type DelimitedReplyRecordDef = z.output<typeof DelimitedReplyRecord>;
export type FixedReplyRecordDef = z.output<typeof FixedReplyRecord>;
