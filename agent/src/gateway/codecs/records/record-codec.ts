import { TbCodes, TbError, type RegisterReply } from '@tillbridge/shared';
import type { Codec, DecodeResult } from '../../types.js';
import { decodeFrame, type MessageLayout, type RecordSyntax } from './frame.js';
import type { Units } from './fields.js';
import type { RecordProfile } from './profile.js';
import { renderReplies, type Echo } from './reply.js';

/** The parts of a record profile (either format) the shared codec reads. */
interface ProfileParts<M, L> {
  name: string;
  format: RecordProfile['format'];
  currencyDecimals: number;
  timeZone: string;
  request: { messages: Record<string, M> };
  reply: { records: Partial<Record<RegisterReply['type'], L>> & { error: L } };
}

/** Refuses a profile of the other format: TB_CONFIG naming the codec it is for. */
export function otherFormat(profile: RecordProfile): never {
  throw new TbError(
    TbCodes.CONFIG,
    `profile ${profile.name} describes ${profile.format} records: use the ${profile.format} codec`,
  );
}

/**
 * What the delimited and the fixed codec share: the name, the units and the request syntax their
 * profile gives, decoding a frame by that syntax (frame.ts), and encoding replies by rendering
 * each into records (reply.ts) that the codec joins into one frame. `requestSyntax` runs in this
 * constructor: it may read the profile only.
 */
export abstract class RecordCodec<
  P extends ProfileParts<M, L>,
  R,
  S,
  M extends MessageLayout<S>,
  L,
  Out,
> implements Codec {
  readonly name: string;
  protected readonly units: Units;
  private readonly syntax: RecordSyntax<R, S, M>;

  protected constructor(protected readonly p: P) {
    this.name = `${p.format}:${p.name}`;
    this.units = { currencyDecimals: p.currencyDecimals, timeZone: p.timeZone };
    this.syntax = this.requestSyntax();
  }

  decode(payload: Buffer): DecodeResult {
    return decodeFrame(payload, this.syntax, this.p.request.messages, this.units);
  }

  encode(replies: RegisterReply[], context?: unknown): Buffer {
    const records = renderReplies(replies, context, this.p.reply.records, (l, r, e, strict) =>
      this.render(l, r, e, strict),
    );
    return this.join(records);
  }

  protected abstract requestSyntax(): RecordSyntax<R, S, M>;

  /** A reply as its records; undefined when a value does not fit and `strict`. */
  protected abstract render(layout: L, reply: RegisterReply, echo: Echo, strict: boolean): Out[] | undefined;

  /** The records of every reply as one frame. */
  protected abstract join(records: Out[]): Buffer;
}
