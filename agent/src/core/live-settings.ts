import { SyncSettingsSchema, type Logger, type SyncSettings } from '@tillbridge/shared';
import { setMeta, type Db } from '../db/agent-db.js';
import { readStoredConfig } from '../db/stored-config.js';

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
 * be read leave the config file's values in force: logged, and shown in status and metrics.
 */
export class LiveSettings {
  private current: { version: number; settings: SyncSettings };
  private unreadable: string | undefined;
  private readonly listeners: ((s: SyncSettings) => void)[] = [];

  constructor(
    private readonly db: Db,
    hub: ConfigSyncSettings,
    private readonly log: Logger,
  ) {
    const fromConfig = SyncSettingsSchema.parse({
      authorizationDeadlineMs: hub.authorizationDeadlineMs,
      retryBaseMs: hub.reconnectBaseMs,
      retryCapMs: hub.reconnectCapMs,
      heartbeatSeconds: Math.max(1, Math.round(hub.heartbeatMs / 1000)),
    });
    this.current = { version: 0, settings: fromConfig };
    const stored = readStoredConfig(db, 'sync_settings', 'settings', SyncSettingsSchema);
    if (stored.state === 'read') this.current = { version: stored.version, settings: stored.value };
    else if (stored.state === 'invalid') {
      this.unreadable = stored.problem;
      log.error(
        { err: stored.err, problem: stored.problem },
        "the stored sync settings cannot be read: running by the config file's until the hub sends settings",
      );
    }
  }

  get version(): number {
    return this.current.version;
  }

  get settings(): SyncSettings {
    return this.current.settings;
  }

  /**
   * Why the stored settings could not be read at start (the config file's values rule meanwhile);
   * undefined once the hub sent some.
   */
  get problem(): string | undefined {
    return this.unreadable;
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
      const message = 'the hub pushed sync settings this agent cannot read; keeping the ones it has';
      this.log.error({ version, err: parsed.error }, message);
      return false;
    }
    const next = { version, settings: parsed.data };
    // kept before they apply: a write that fails (a full disk) throws, the settings held stay, and the caller retries
    setMeta(this.db, 'sync_settings', JSON.stringify(next));
    this.current = next;
    this.unreadable = undefined;
    this.log.info({ version, settings: parsed.data }, 'sync settings applied');
    for (const listener of this.listeners) listener(parsed.data);
    return true;
  }
}
