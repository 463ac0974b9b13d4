import { SyncSettingsSchema, type Logger, type SyncSettings } from '@tillbridge/shared';
import { getMeta, setMeta, type Db } from '../db/agent-db.js';

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
 * when they need them, and hear of changes, so nothing needs a restart.
 */
export class LiveSettings {
  private current: { version: number; settings: SyncSettings };
  private readonly listeners: ((s: SyncSettings) => void)[] = [];

  constructor(private readonly db: Db, hub: ConfigSyncSettings, private readonly log: Logger) {
    const fromConfig = SyncSettingsSchema.parse({
      authorizationDeadlineMs: hub.authorizationDeadlineMs,
      retryBaseMs: hub.reconnectBaseMs,
      retryCapMs: hub.reconnectCapMs,
      heartbeatSeconds: Math.max(1, Math.round(hub.heartbeatMs / 1000)),
    });
    this.current = { version: 0, settings: fromConfig };
    const stored = getMeta(db, 'sync_settings');
    if (stored) {
      try {
        const { version, settings } = JSON.parse(stored) as { version: number; settings: unknown };
        this.current = { version, settings: SyncSettingsSchema.parse(settings) };
      } catch {
        // keep the config file's values
      }
    }
  }

  get version(): number {
    return this.current.version;
  }

  get settings(): SyncSettings {
    return this.current.settings;
  }

  onChange(listener: (s: SyncSettings) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Takes settings pushed by the hub and applies them at once. Version 0 means nothing was ever
   * set centrally: the config file's values stay. An older or equal version is ignored.
   */
  accept(version: number, raw: unknown): boolean {
    if (version === 0 || version <= this.current.version) return false;
    const parsed = SyncSettingsSchema.safeParse(raw);
    if (!parsed.success) {
      this.log.error({ version }, 'the hub pushed sync settings this agent cannot read; keeping the ones it has');
      return false;
    }
    const next = { version, settings: parsed.data };
    // kept before they apply: a write that fails (a full disk) throws, the settings held stay, and the caller retries
    setMeta(this.db, 'sync_settings', JSON.stringify(next));
    this.current = next;
    this.log.info({ version, settings: parsed.data }, 'sync settings applied');
    for (const l of this.listeners) l(parsed.data);
    return true;
  }
}
