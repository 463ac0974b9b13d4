import type { z } from 'zod';
import type { Logger } from '@tillbridge/shared';
import { setMeta, type Db } from '../db/agent-db.js';
import { readStoredConfig } from '../db/stored-config.js';

export interface PushedDocumentSpec<T> {
  /** the meta row it is kept in, as `{"version": n, "<field>": value}` */
  key: string;
  field: string;
  schema: z.ZodType<T>;
  /** in force (as version 0) until the hub pushes one, and while the stored one cannot be read */
  fallback: T;
  log: Logger;
  /** logged when the stored document cannot be read at start */
  unreadableMessage: string;
  /** logged when the hub pushes one this agent cannot read */
  rejectedMessage: string;
}

/**
 * A document the hub pushes to the agent (its sync settings, its returns policy): versioned, and
 * kept in the agent's database so it survives restarts. A stored one that cannot be read leaves
 * the fallback in force: logged, and kept as `problem` (shown in status and metrics) until the hub
 * sends one. Which versions are taken is the subclass's to decide.
 */
export abstract class PushedDocument<T> {
  private current: { version: number; value: T };
  private unreadable: string | undefined;

  constructor(
    private readonly db: Db,
    protected readonly spec: PushedDocumentSpec<T>,
  ) {
    this.current = { version: 0, value: spec.fallback };
    const stored = readStoredConfig(db, spec.key, spec.field, spec.schema);
    if (stored.state === 'read') this.current = { version: stored.version, value: stored.value };
    else if (stored.state === 'invalid') {
      this.unreadable = stored.problem;
      spec.log.error({ err: stored.err, problem: stored.problem }, spec.unreadableMessage);
    }
  }

  get version(): number {
    return this.current.version;
  }

  protected get value(): T {
    return this.current.value;
  }

  /** Why the stored document could not be read at start; undefined once the hub sent one. */
  get problem(): string | undefined {
    return this.unreadable;
  }

  /**
   * Reads `raw` and keeps it as `version`; undefined (logged) when this agent cannot read it. It
   * is written before it applies: a write that fails (a full disk) throws, the document held
   * stays, and the caller retries.
   */
  protected keep(version: number, raw: unknown): T | undefined {
    const parsed = this.spec.schema.safeParse(raw);
    if (!parsed.success) {
      this.spec.log.error({ version, err: parsed.error }, this.spec.rejectedMessage);
      return undefined;
    }
    setMeta(this.db, this.spec.key, JSON.stringify({ version, [this.spec.field]: parsed.data }));
    this.current = { version, value: parsed.data };
    this.unreadable = undefined;
    return parsed.data;
  }
}
