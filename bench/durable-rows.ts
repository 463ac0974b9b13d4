import Database from 'better-sqlite3';

/**
 * What the floors' server processes commit: one row per message into a SQLite file in WAL mode with
 * synchronous=FULL, each in its own IMMEDIATE transaction — one durable commit, as the agent makes for a sale.
 */
export function durableRows(file: string): { commit(body: string): void; close(): void } {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE IF NOT EXISTS sales (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO sales (body) VALUES (?)');
  const tx = db.transaction((body: string) => insert.run(body));
  return { commit: (body) => void tx.immediate(body), close: () => db.close() };
}
