import * as z from 'zod';
import type { Codec } from '../../types.js';
import { TbCodes, TbError } from '@tillbridge/shared';
import { DelimitedCodec } from './delimited.js';
import { FixedCodec } from './fixed.js';
import { loadProfile } from './load.js';

export { RecordProfileSchema, type RecordProfile, type DelimitedProfile, type FixedProfile } from './profile.js';
export { DelimitedCodec } from './delimited.js';
export { FixedCodec } from './fixed.js';
export { loadProfile } from './load.js';
export type { RecordContext } from './frame.js';

/**
 * A register's `codec` when it speaks a legacy record format:
 * `{"type":"delimited","profile":"/etc/tillbridge/profiles/x.json"}`.
 */
export const RecordCodecConfigSchema = z.strictObject({
  type: z.enum(['delimited', 'fixed'], 'one of "delimited", "fixed"'),
  profile: z.string().min(1, 'the path of a record profile JSON file'),
});
export type RecordCodecConfig = z.infer<typeof RecordCodecConfigSchema>;

/**
 * Loads the profile a register's config names and makes its codec; TB_CONFIG when the profile is invalid or of the
 * other format.
 */
export function recordCodec(cfg: RecordCodecConfig): Codec {
  const profile = loadProfile(cfg.profile);
  if (profile.format !== cfg.type) {
    throw new TbError(
      TbCodes.CONFIG,
      `profile ${cfg.profile} describes ${profile.format} records, but the codec type is "${cfg.type}"`,
    );
  }
  return profile.format === 'delimited' ? new DelimitedCodec(profile) : new FixedCodec(profile);
}
