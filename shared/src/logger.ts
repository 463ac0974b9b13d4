import { pino, type Logger, type DestinationStream } from 'pino';
import { REDACT_PATHS } from './card.js';

export type { Logger };

export interface LoggerOptions {
  name: string;
  level?: string;
  destination?: DestinationStream;
}

/** Structured JSON logs with card data, keys and tokens redacted wherever they could appear. */
export function createLogger(opts: LoggerOptions): Logger {
  return pino(
    {
      name: opts.name,
      level: opts.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    opts.destination ?? pino.destination({ fd: 1, sync: true }),
  );
}
