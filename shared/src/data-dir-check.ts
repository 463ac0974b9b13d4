import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Something about a data directory's permissions: an `error` refuses to start, a `warning` is said at every start. */
export interface DataDirFinding {
  level: 'error' | 'warning';
  message: string;
}

const octal = (mode: number): string => `0${(mode & 0o777).toString(8)}`;

/**
 * The permissions of a data directory (the agent's `dataDir`, the hub's `--data`), checked by
 * `run`/`serve` and by `check-config`:
 * - writable by group or others: an error — anyone in them could replace the database or plant a
 *   link where the process will write;
 * - readable or searchable by group or others: a warning — the files in it are 0600, but their
 *   names, sizes and times show, and a file made by an older version may still be readable;
 * - a file in it that group or others may read: a warning (the process narrows its own files to
 *   0600 when it opens them).
 * A directory that does not exist yet is fine (it is created 0700). Windows has no such modes.
 */
export function checkDataDir(dir: string, platform: NodeJS.Platform = process.platform): DataDirFinding[] {
  if (platform === 'win32') return [];
  let st;
  try {
    st = statSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    return [
      {
        level: 'error',
        message:
          `data directory ${dir}: cannot read it ` +
          `(${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      },
    ];
  }
  if (!st.isDirectory())
    return [{ level: 'error', message: `data directory ${dir}: expected a directory, found a file` }];
  const findings: DataDirFinding[] = [];
  if ((st.mode & 0o022) !== 0) {
    findings.push({
      level: 'error',
      message:
        `data directory ${dir} is writable by group or others (mode ${octal(st.mode)}): expected only its ` +
        `owner to write there (chmod 700 ${dir})`,
    });
  } else if ((st.mode & 0o077) !== 0) {
    findings.push({
      level: 'warning',
      message:
        `data directory ${dir} can be read by group or others (mode ${octal(st.mode)}): expected 0700 ` +
        `(chmod 700 ${dir})`,
    });
  }
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return findings; // not ours to list: the open that follows will say so
  }
  for (const name of names) {
    let f;
    try {
      f = statSync(join(dir, name));
    } catch {
      continue;
    }
    if (f.isFile() && (f.mode & 0o077) !== 0) {
      findings.push({
        level: 'warning',
        message:
          `${join(dir, name)} can be read by group or others (mode ${octal(f.mode)}): ` +
          `expected 0600 (chmod 600 ${join(dir, name)})`,
      });
    }
  }
  return findings;
}
