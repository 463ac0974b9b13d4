import type { SqlDb, Statement } from '../storage/index.js';

/**
 * Where an import's checked rows wait until the whole file is known to be good: a TEMP table of
 * the hub's connection (a file of its own in the temp directory: no WAL, no fsync, gone with the
 * process), one row per batch of at most `chunkRows` rows (JSON), keyed by (run, batch). A batch
 * goes in, comes out and is removed whole — one statement each, whatever the batch holds.
 */
export class ImportStaging {
  private st: { insert: Statement; read: Statement; remove: Statement; removeRange: Statement } | undefined;

  constructor(private readonly db: SqlDb) {}

  private statements(): NonNullable<ImportStaging['st']> {
    if (!this.st) {
      this.db.exec(`CREATE TEMP TABLE IF NOT EXISTS import_batches (
        run INTEGER NOT NULL, batch INTEGER NOT NULL, data TEXT NOT NULL,
        PRIMARY KEY (run, batch))`);
      this.st = {
        insert: this.db.prepare(`INSERT INTO import_batches (run, batch, data) VALUES (?, ?, ?)`),
        read: this.db.prepare(`SELECT data FROM import_batches WHERE run = ? AND batch = ?`),
        remove: this.db.prepare(`DELETE FROM import_batches WHERE run = ? AND batch = ?`),
        removeRange: this.db.prepare(`DELETE FROM import_batches WHERE run = ? AND batch >= ? AND batch < ?`),
      };
    }
    return this.st;
  }

  add(run: number, batch: number, data: string): void {
    this.statements().insert.run(run, batch, data);
  }

  read(run: number, batch: number): string {
    const r = this.statements().read.get(run, batch) as { data: string } | undefined;
    if (!r) throw new Error(`staged batch ${batch} of run ${run} is missing`);
    return r.data;
  }

  remove(run: number, batch: number): void {
    this.statements().remove.run(run, batch);
  }

  removeRange(run: number, from: number, to: number): void {
    this.statements().removeRange.run(run, from, to);
  }
}
