import { closeSync, chmodSync, fstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';

/**
 * A log file rotated by size, for machines where nothing captures the process's stdout (no
 * journald, no service wrapper): `log.file` of the agent, `serve --log-file` of the hub.
 *
 * Written by hand rather than with pino-roll or rotating-file-stream: those rotate on a worker
 * thread or asynchronously, so the last lines before a crash can be lost, and they bring their
 * own timers; this writes each line synchronously (as the stdout destination does) and rotates in
 * line, in about forty lines. When writing the next line would take the file past `maxBytes`, it
 * becomes FILE.1 (FILE.1 becomes FILE.2 …) and a new FILE is started; FILE.`keep` is removed.
 * The files are 0600: logs hold store data.
 */
export interface RotatingFileOptions {
  file: string;
  maxBytes: number;
  /** how many rotated files are kept besides the current one (1 or more) */
  keep: number;
}

export interface RotatingFile {
  write(line: string): void;
  /** pino's flushSync: a no-op, every write is synchronous */
  flushSync(): void;
  end(): void;
}

export function rotatingFile(opts: RotatingFileOptions): RotatingFile {
  if (!(opts.maxBytes > 0)) throw new Error('rotatingFile: maxBytes must be positive');
  if (!Number.isInteger(opts.keep) || opts.keep < 1)
    throw new Error('rotatingFile: keep must be a whole number of 1 or more');
  let fd = -1;
  let size = 0;
  const open = (): void => {
    fd = openSync(opts.file, 'a', 0o600);
    try {
      chmodSync(opts.file, 0o600);
    } catch {
      /* not ours to change (Windows): the directory's permissions apply */
    }
    size = fstatSync(fd).size;
  };
  const rotate = (): void => {
    closeSync(fd);
    rmSync(`${opts.file}.${opts.keep}`, { force: true });
    for (let i = opts.keep - 1; i >= 1; i--) {
      try {
        renameSync(`${opts.file}.${i}`, `${opts.file}.${i + 1}`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    renameSync(opts.file, `${opts.file}.1`);
    open();
  };
  open();
  return {
    write(line: string) {
      const bytes = Buffer.byteLength(line);
      if (size > 0 && size + bytes > opts.maxBytes) rotate();
      writeSync(fd, line);
      size += bytes;
    },
    flushSync() {
      // every write is synchronous: nothing is buffered
    },
    end() {
      if (fd >= 0) closeSync(fd);
      fd = -1;
    },
  };
}
