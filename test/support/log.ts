import { Writable } from 'node:stream';
import { createLogger, type Logger } from '@tillbridge/shared';

/** A logger at `level` whose every line is kept, parsed, in `lines`. */
export function capturedLog(level = 'info'): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    name: 'test',
    level,
    destination: new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        cb();
      },
    }),
  });
  return { log, lines };
}
