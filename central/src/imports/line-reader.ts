import { TbCodes, TbError } from '@tillbridge/shared';

export interface TextLine {
  /** 1-based line number in the file (blank lines count) */
  line: number;
  /** without the line break (`\n` or `\r\n`) and, on line 1, without a UTF-8 byte order mark */
  text: string;
}

export interface LineBatch {
  lines: TextLine[];
  /** bytes of the input consumed up to the end of the last line of this batch */
  bytes: number;
}

/**
 * Splits a byte stream into lines as it arrives: one batch per chunk read, so nothing but the
 * current chunk and one unfinished line is ever held. A line longer than `maxLineBytes` is an
 * error naming it (a file without line breaks cannot make the hub buffer it whole).
 */
export async function* readLines(input: AsyncIterable<Buffer>, maxLineBytes: number): AsyncGenerator<LineBatch> {
  let carry: Buffer[] = [];
  let carryLen = 0;
  let lineNo = 0;
  let consumed = 0;
  const text = (b: Buffer): string => {
    let end = b.length;
    if (end > 0 && b[end - 1] === 0x0d) end--;
    let start = 0;
    if (lineNo === 1 && end >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) start = 3;
    return b.toString('utf8', start, end);
  };
  const tooLong = (): TbError =>
    new TbError(
      TbCodes.INVALID,
      `line ${lineNo + 1}: longer than ${maxLineBytes} bytes (one record a line is expected)`,
    );
  for await (const chunk of input) {
    const lines: TextLine[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) {
        if (start < chunk.length) {
          carry.push(chunk.subarray(start));
          carryLen += chunk.length - start;
          if (carryLen > maxLineBytes) throw tooLong();
        }
        break;
      }
      const part = chunk.subarray(start, nl);
      const whole = carryLen > 0 ? Buffer.concat([...carry, part]) : part;
      if (whole.length > maxLineBytes) throw tooLong();
      carry = [];
      carryLen = 0;
      lineNo++;
      consumed += whole.length + 1;
      lines.push({ line: lineNo, text: text(whole) });
      start = nl + 1;
    }
    if (lines.length > 0) yield { lines, bytes: consumed };
  }
  if (carryLen > 0) {
    lineNo++;
    consumed += carryLen;
    yield { lines: [{ line: lineNo, text: text(Buffer.concat(carry)) }], bytes: consumed };
  }
}
