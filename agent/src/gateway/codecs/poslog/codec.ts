import { createHash } from 'node:crypto';
import { isTbError, TbCodes, type RegisterReply } from '@tillbridge/shared';
import type { Codec, DecodeResult } from '../../types.js';
import { poslogTimeZone, type PoslogCodecConfig } from './config.js';
import type { KnownSales } from './links.js';
import { mapDocument, type MappingOptions } from './mapping.js';
import { encodeReplies, type PoslogContext } from './reply.js';
import { zoneResolver } from './time.js';
import { parseXml } from './xml.js';

// the config's schema is on its own, so that reading an agent's config does not load the XML parser
export { PoslogCodecConfigSchema, type PoslogCodecConfig } from './config.js';

/** What the codec takes from the agent around it. */
export interface PoslogCodecDeps {
  /** The host's IANA time zone, for a register whose config names none (else "Z"). */
  hostZone?: string | undefined;
  /** Sales this agent has recorded, for return links that name no business day. */
  known?: KnownSales | undefined;
}

/**
 * NRF ARTS POSLog / DigitalReceipt XML ↔ the canonical register model (docs/poslog.md).
 * One frame is one XML document; it decodes to one message per sale or return it holds, in
 * document order, and the replies to them are encoded as one <TillbridgeReply> document.
 */
export class PoslogCodec implements Codec {
  readonly name = 'poslog';
  private readonly options: MappingOptions;
  /** The register's time zone in use: its config's, else the host's, else "Z". */
  readonly timeZone: string;

  constructor(
    private readonly config: PoslogCodecConfig,
    deps: PoslogCodecDeps = {},
  ) {
    this.timeZone = poslogTimeZone(config, deps.hostZone);
    const zone = zoneResolver(this.timeZone);
    if (zone === undefined) throw new RangeError('poslog codec: timeZone must be validated by PoslogCodecConfigSchema');
    this.options = {
      defaultCurrency: config.defaultCurrency,
      minorUnitDigits: config.minorUnitDigits,
      zone,
      receiptKey: config.receiptKey,
      maxTransactions: config.maxTransactions,
      known: deps.known,
    };
  }

  decode(payload: Buffer): DecodeResult {
    const parsed = parseXml(payload);
    if (!parsed.ok) return { kind: 'error', code: TbCodes.MALFORMED, message: parsed.message };
    const digest = createHash('sha256').update(payload).digest('hex');
    try {
      const mapped = mapDocument(parsed.root, this.options, digest);
      const context: PoslogContext = { refs: mapped.refs };
      return { kind: 'messages', messages: mapped.messages, context };
    } catch (err) {
      if (isTbError(err)) return { kind: 'error', code: err.code, message: err.message };
      return { kind: 'error', code: TbCodes.INTERNAL, message: 'the agent failed while reading this document' };
    }
  }

  encode(replies: RegisterReply[], context?: unknown): Buffer {
    return encodeReplies(replies, context, this.config.minorUnitDigits);
  }
}
