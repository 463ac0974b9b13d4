import { gzipSync } from 'node:zlib';

/**
 * A minimal .tar.gz writer for the doctors' support bundles: regular files only, from memory,
 * in the POSIX ustar format (names up to 100 bytes: the bundle's own names are short), gzip'd with
 * node:zlib. Written here rather than taken from npm: reading tar archives is hard (and is what the
 * libraries are for), writing a handful of small files is 512-byte headers and padding, and the
 * doctor should not grow a dependency tree to do it. Any `tar xzf` reads it.
 */
export interface TarEntry {
  name: string;
  data: Buffer | string;
  /** default 0o600: a bundle's files are for support, not for everyone on the machine */
  mode?: number;
}

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, '0')}\0`;
}

function header(name: string, size: number, mode: number, mtimeSec: number): Buffer {
  const h = Buffer.alloc(512, 0);
  const nameBytes = Buffer.from(name, 'utf8');
  if (nameBytes.length > 100) throw new Error(`tar: name longer than 100 bytes: ${name}`);
  nameBytes.copy(h, 0);
  h.write(octal(mode, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii'); // uid
  h.write(octal(0, 8), 116, 'ascii'); // gid
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(mtimeSec, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii'); // checksum placeholder: spaces
  h.write('0', 156, 'ascii'); // regular file
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

/** The bytes of a .tar.gz holding `entries`, each stamped with `mtimeMs` (the caller's clock). */
export function tarGz(entries: readonly TarEntry[], mtimeMs: number): Buffer {
  const parts: Buffer[] = [];
  const mtime = Math.max(0, Math.floor(mtimeMs / 1000));
  for (const e of entries) {
    const data = typeof e.data === 'string' ? Buffer.from(e.data, 'utf8') : e.data;
    parts.push(header(e.name, data.length, e.mode ?? 0o600, mtime), data);
    const pad = (512 - (data.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad, 0));
  }
  parts.push(Buffer.alloc(1024, 0)); // two empty blocks end the archive
  return gzipSync(Buffer.concat(parts));
}
