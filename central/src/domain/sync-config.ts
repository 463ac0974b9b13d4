import {
  DEFAULT_SYNC_SETTINGS,
  SyncSettingsPatchSchema,
  SyncSettingsSchema,
  type SyncSettings,
} from '@tillbridge/shared';
import type { HubStorage } from '../storage/index.js';
import type { AuditLog } from './audit-log.js';
import type { Clock } from './clock.js';
import { VersionedSettings } from './versioned-settings.js';

/** Sync settings set centrally: a default and per-store overrides, versioned, pushed to agents. */
export function syncConfig(s: HubStorage, audit: AuditLog, clock: Clock): VersionedSettings<SyncSettings> {
  return new VersionedSettings<SyncSettings>(s, audit, clock, {
    table: 'sync_settings',
    action: 'config.set',
    full: SyncSettingsSchema,
    patch: SyncSettingsPatchSchema,
    defaults: DEFAULT_SYNC_SETTINGS,
    merge: (base, patch) => SyncSettingsSchema.parse({ ...base, ...patch }),
  });
}
