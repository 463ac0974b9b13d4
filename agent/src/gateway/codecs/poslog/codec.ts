import { createHash } from 'node:crypto';
import { isTbError, TbCodes, type RegisterReply } from '@tillbridge/shared';
import * as z from 'zod';
import type { Codec, DecodeResult } from '../../types.js';
import type { KnownSales } from './links.js';
import { mapDocument, type MappingOptions } from './mapping.js';
import { encodeReplies, type PoslogContext } from './reply.js';
import { isValidZone, zoneResolver } from './time.js';
import { parseXml } from './xml.js';

/** Config of the `poslog` codec (a register's `codec` key). See docs/poslog.md. */
export const PoslogCodecConfigSchema = z.strictObject({
  type: z.literal('poslog'),
  /** Currency of transactions that carry no CurrencyCode (required for such documents). */
  defaultCurrency: z
    .string()
    .regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as "EUR"')
    .optional(),
  /** Decimals of the currency's minor unit: 2 for EUR/USD/SEK, 0 for JPY, 3 for KWD. */
  minorUnitDigits: z
    .number()
    .int('a whole number of decimals from 0 to 4')
    .min(0, 'a whole number of decimals from 0 to 4')
    .max(4, 'a whole number of decimals from 0 to 4')
    .default(2),
  /**
   * The register's time zone: "Z", an offset such as "+01:00", or an IANA zone such as
   * "Europe/Stockholm". Date-times written without a zone are in it, and a business day derived
   * from a time is the date there. Default: the agent host's zone (given by the composition root).
   */
  timeZone: z
    .string()
    .refine(isValidZone, 'a time zone: "Z", an offset such as "+01:00", or an IANA zone such as "Europe/Stockholm"')
    .optional(),
  /** How a sale's receipt number and a return's link are formed (after se:ReceiptCode, which always wins). */
  receiptKey: z
    .enum(['sequence', 'transaction-id'], {
      error: 'one of "sequence" (store-workstation-sequence-day) or "transaction-id"',
    })
    .default('sequence'),
  /** Most Transaction elements one document may hold. */
  maxTransactions: z
    .number()
    .int('a whole number from 1 to 1000')
    .min(1, 'a whole number from 1 to 1000')
    .max(1000, 'a whole number from 1 to 1000')
    .default(200),
});
export type PoslogCodecConfig = z.infer<typeof PoslogCodecConfigSchema>;

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
    this.timeZone =
      config.timeZone ?? (deps.hostZone !== undefined && isValidZone(deps.hostZone) ? deps.hostZone : 'Z');
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
