import * as z from 'zod';
import { isCutoff, isStoreTimeZone } from './business-day.js';

/**
 * How a store's agent syncs with the hub, set centrally (`tillbridge-hub config set`): a default
 * and per-store overrides, versioned and audited, pushed to connected agents and applied without a
 * restart. Before the first push an agent uses its config file's values.
 */
export const SyncSettingsSchema = z.strictObject({
  /**
   * realtime: each event leaves as soon as it is committed; batched: every uploadIntervalSeconds (constrained links).
   */
  uploadMode: z.enum(['realtime', 'batched']).default('realtime'),
  uploadIntervalSeconds: z.number().int().min(1).max(3600).default(30),
  /** How often the agent checks its inventory copy against the hub's (the hub re-sends what differs). */
  inventoryRefreshSeconds: z.number().int().min(1).max(86_400).default(300),
  /** How long a return request waits for the hub before the agent decides offline. */
  authorizationDeadlineMs: z.number().int().min(50).max(30_000).default(1500),
  /** Full-jitter backoff for reconnections and retried uploads. */
  retryBaseMs: z.number().int().min(10).max(60_000).default(500),
  retryCapMs: z.number().int().min(100).max(600_000).default(30_000),
  heartbeatSeconds: z.number().int().min(1).max(300).default(15),
  /** Events the hub refuses for good: kept as exceptions (always), and announced by webhook too. */
  refusedEvents: z.enum(['exception', 'exception+webhook']).default('exception+webhook'),
  /** false: agents decide nothing on their own — every offline return request is denied (offline_disabled). */
  offlineApprovals: z.boolean().default(true),
  /**
   * The store's time zone (IANA name, or "UTC"): business days, and so the ERP feed's days and the day close, are dates
   * in it.
   */
  timeZone: z.string().refine(isStoreTimeZone, 'an IANA time zone such as "Europe/Berlin", or "UTC"').default('UTC'),
  /**
   * "HH:MM" on the next day, in the store's zone: a register that has not closed its day by then is reconciled against
   * the agent's own counts.
   */
  dayCutoff: z.string().refine(isCutoff, 'a time "HH:MM" (24-hour), e.g. "03:00"').default('03:00'),
});
export type SyncSettings = z.infer<typeof SyncSettingsSchema>;

export const DEFAULT_SYNC_SETTINGS: SyncSettings = SyncSettingsSchema.parse({});

/**
 * A partial change of the settings (any subset of keys). Not `.partial()`: in zod 4 that still
 * fills in each key's default, so a change of one key would reset every other key of an override.
 */
const shape = SyncSettingsSchema.shape;
export const SyncSettingsPatchSchema = z.strictObject({
  uploadMode: shape.uploadMode.unwrap().optional(),
  uploadIntervalSeconds: shape.uploadIntervalSeconds.unwrap().optional(),
  inventoryRefreshSeconds: shape.inventoryRefreshSeconds.unwrap().optional(),
  authorizationDeadlineMs: shape.authorizationDeadlineMs.unwrap().optional(),
  retryBaseMs: shape.retryBaseMs.unwrap().optional(),
  retryCapMs: shape.retryCapMs.unwrap().optional(),
  heartbeatSeconds: shape.heartbeatSeconds.unwrap().optional(),
  refusedEvents: shape.refusedEvents.unwrap().optional(),
  offlineApprovals: shape.offlineApprovals.unwrap().optional(),
  timeZone: shape.timeZone.unwrap().optional(),
  dayCutoff: shape.dayCutoff.unwrap().optional(),
});
export type SyncSettingsPatch = z.infer<typeof SyncSettingsPatchSchema>;
