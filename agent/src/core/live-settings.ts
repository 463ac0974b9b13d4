import { SyncSettingsSchema, type Logger, type SyncSettings } from '@tillbridge/shared';
import type { Db } from '../db/agent-db.js';
import { PushedDocument } from './pushed-document.js';

/** The sync settings the config file gives (its `hub` section), until the hub pushes its own. */
interface ConfigSyncSettings {
  authorizationDeadlineMs: number;
  reconnectBaseMs: number;
  reconnectCapMs: number;
  heartbeatMs: number;
}

/**
 * The sync settings this agent runs by: its config file's values (version 0) until the hub pushes
 * the store's settings, which then win and are kept across restarts. Parts of the agent read them
 * when they need them, and hear of changes, so nothing needs a restart. Stored settings that cannot
 * be read leave the config file's values in force: logged, and shown in status and metrics
 * (`problem`, until the hub sends settings).
 */
export class LiveSettings extends PushedDocument<SyncSettings> {
  private readonly listeners: ((s: SyncSettings) => void)[] = [];

  constructor(db: Db, hub: ConfigSyncSettings, log: Logger) {
    super(db, {
      key: 'sync_settings',
      field: 'settings',
      schema: SyncSettingsSchema,
      fallback: SyncSettingsSchema.parse({
        authorizationDeadlineMs: hub.authorizationDeadlineMs,
        retryBaseMs: hub.reconnectBaseMs,
        retryCapMs: hub.reconnectCapMs,
        heartbeatSeconds: Math.max(1, Math.round(hub.heartbeatMs / 1000)),
      }),
      log,
      unreadableMessage:
        "the stored sync settings cannot be read: running by the config file's until the hub sends settings",
      rejectedMessage: 'the hub pushed sync settings this agent cannot read; keeping the ones it has',
    });
  }

  get settings(): SyncSettings {
    return this.value;
  }

  onChange(listener: (s: SyncSettings) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Takes settings pushed by the hub and applies them at once. Version 0 means nothing was ever
   * set centrally: the config file's values stay. An older or equal version is ignored.
   */
  accept(version: number, raw: unknown): boolean {
    if (version === 0 || version <= this.version) return false;
    const settings = this.keep(version, raw);
    if (!settings) return false;
    this.spec.log.info({ version, settings }, 'sync settings applied');
    for (const listener of this.listeners) listener(settings);
    return true;
  }
}
