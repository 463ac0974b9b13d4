import * as z from 'zod';
import { isValidZone } from './time.js';

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

/** The time zone a POSLog register uses: its config's, else the host's (`hostZone`, when valid), else "Z". */
export function poslogTimeZone(config: Pick<PoslogCodecConfig, 'timeZone'>, hostZone: string | undefined): string {
  return config.timeZone ?? (hostZone !== undefined && isValidZone(hostZone) ? hostZone : 'Z');
}
