import { TbCodes } from '@tillbridge/shared';
import type { Failure } from './frame.js';

/**
 * Splits a delimited frame into records and fields in one pass. With a quote character, a field
 * that starts with it runs to the closing quote (a doubled quote inside stands for one) and may
 * hold separators. Empty records (two record separators in a row, one at the end) are skipped.
 */
export function splitDelimited(
  text: string,
  fieldSep: string,
  recordSep: string | undefined,
  quote: string | undefined,
): string[][] | Failure {
  const records: string[][] = [];
  let fields: string[] = [];
  let quotedRecord = false;
  let i = 0;
  const endRecord = () => {
    if (fields.length > 1 || fields[0] !== '' || quotedRecord) records.push(fields);
    fields = [];
    quotedRecord = false;
  };
  for (;;) {
    let value: string;
    let j: number;
    if (quote !== undefined && text.startsWith(quote, i)) {
      value = '';
      let k = i + 1;
      for (;;) {
        const close = text.indexOf(quote, k);
        if (close === -1)
          return {
            code: TbCodes.MALFORMED,
            message: `record ${records.length + 1}, field ${fields.length + 1}: a quoted field is not closed`,
          };
        value += text.slice(k, close);
        if (text.startsWith(quote, close + 1)) {
          value += quote;
          k = close + 2;
        } else {
          j = close + 1;
          break;
        }
      }
      quotedRecord = true;
      if (j < text.length && !text.startsWith(fieldSep, j) && !(recordSep && text.startsWith(recordSep, j))) {
        return {
          code: TbCodes.MALFORMED,
          message: `record ${records.length + 1}, field ${fields.length + 1}: characters after the closing quote`,
        };
      }
    } else {
      j = i;
      while (j < text.length && !text.startsWith(fieldSep, j) && !(recordSep && text.startsWith(recordSep, j))) j++;
      value = text.slice(i, j);
    }
    fields.push(value);
    if (j >= text.length) {
      endRecord();
      return records;
    }
    if (text.startsWith(fieldSep, j)) {
      i = j + fieldSep.length;
      continue;
    }
    // neither the end nor a field separator: the loops above stop there only at a record separator
    if (recordSep === undefined) throw new Error('splitDelimited stopped between fields without a record separator');
    endRecord();
    i = j + recordSep.length;
    if (i >= text.length) return records;
  }
}
