import { TbCodes, type RegisterReply } from '@tillbridge/shared';
import type { Codec, DecodeResult } from '../types.js';

/** The canonical protocol: one UTF-8 JSON object per frame (docs/register-protocol.md). */
export class JsonlCodec implements Codec {
  readonly name = 'jsonl';
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });

  decode(payload: Buffer): DecodeResult {
    let text: string;
    try {
      text = this.decoder.decode(payload);
    } catch {
      return { kind: 'error', code: TbCodes.MALFORMED, message: 'the line is not valid UTF-8' };
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return { kind: 'error', code: TbCodes.MALFORMED, message: 'the line is not valid JSON' };
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return { kind: 'error', code: TbCodes.MALFORMED, message: 'each line must be one JSON object' };
    }
    return { kind: 'messages', messages: [value] };
  }

  /** One line per reply (the protocol answers one message per line, so normally exactly one). */
  encode(replies: RegisterReply[]): Buffer {
    return Buffer.from(replies.map((r) => JSON.stringify(r)).join('\n'), 'utf8');
  }
}
