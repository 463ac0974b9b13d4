import { pino, type Logger, type DestinationStream } from 'pino';
import { REDACT_PATHS } from './card.js';
import { rotatingFile, type RotatingFileOptions } from './log-file.js';

export type { Logger };

/** The levels a log may be set to (agent `log.level`, hub `serve --log-level`): pino's, and `silent`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export interface LoggerOptions {
  name: string;
  level?: string;
  destination?: DestinationStream;
  /** Also write every line to this file, rotated by size (agent `log.file`, hub `serve --log-file`). */
  file?: RotatingFileOptions;
}

/** Structured JSON logs with card data, keys and tokens redacted wherever they could appear. */
export function createLogger(opts: LoggerOptions): Logger {
  const out = opts.destination ?? pino.destination({ fd: 1, sync: true });
  let destination: DestinationStream = out;
  if (opts.file) {
    const file = rotatingFile(opts.file);
    destination = {
      write(line: string) {
        out.write(line);
        file.write(line);
      },
    };
  }
  return pino(
    {
      name: opts.name,
      level: opts.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
