import { Option } from 'commander';
import { isLoopbackHost, parseHostPort, TbCodes, TbError } from '@tillbridge/shared';

/** What `serve` is given for the console (flags, or their TILLBRIDGE_HUB_* variables). */
export interface ConsoleFlags {
  /** --console HOST:PORT: serve the console there (off when not given) */
  console?: string | undefined;
  consoleTlsCert?: string | undefined;
  consoleTlsKey?: string | undefined;
  /** the main listener's TLS, which the console uses when it is given none of its own */
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  insecure?: boolean | undefined;
  /** the main listener's address (the console needs another one) */
  listen: { host: string; port: number };
}

export interface ConsoleSettings {
  host: string;
  port: number;
  tls?: { certFile: string; keyFile: string };
}

export const CONSOLE_ENV = 'TILLBRIDGE_HUB_CONSOLE';

/** `serve`'s console options (each with its TILLBRIDGE_HUB_CONSOLE* variable). */
export const consoleCliOptions = {
  listen: (): Option =>
    new Option(
      '--console <host:port>',
      'serve the read-only operator console there, at /console/ (docs/console.md)',
    ).env(CONSOLE_ENV),
  cert: (): Option =>
    new Option('--console-tls-cert <file>', "the console's certificate (default: --tls-cert's)").env(
      'TILLBRIDGE_HUB_CONSOLE_TLS_CERT',
    ),
  key: (): Option => new Option('--console-tls-key <file>', 'and its key').env('TILLBRIDGE_HUB_CONSOLE_TLS_KEY'),
};

/**
 * The console's listener from `serve`'s options, checked as the main listener's are: each error names the option at
 * fault (TB_CONFIG: `serve` exits non-zero). Undefined when the console is not asked for.
 */
export function consoleSettings(f: ConsoleFlags): ConsoleSettings | undefined {
  const ownTls = Boolean(f.consoleTlsCert) || Boolean(f.consoleTlsKey);
  if (f.console === undefined || f.console === '') {
    if (ownTls) throw new TbError(TbCodes.CONFIG, '--console-tls-cert and --console-tls-key need --console HOST:PORT');
    return undefined;
  }
  let at: { host: string; port: number };
  try {
    at = parseHostPort(f.console);
  } catch (err) {
    throw new TbError(TbCodes.CONFIG, `--console: ${(err as Error).message}`);
  }
  if (at.port !== 0 && at.port === f.listen.port && at.host === f.listen.host)
    throw new TbError(TbCodes.CONFIG, `--console: ${f.console} is --listen's address; give the console its own port`);
  if (Boolean(f.consoleTlsCert) !== Boolean(f.consoleTlsKey))
    throw new TbError(TbCodes.CONFIG, '--console-tls-cert and --console-tls-key go together');
  const certFile = f.consoleTlsCert ?? f.tlsCert;
  const keyFile = f.consoleTlsKey ?? f.tlsKey;
  if (!certFile || !keyFile) {
    if (!isLoopbackHost(at.host) && !f.insecure)
      throw new TbError(
        TbCodes.CONFIG,
        `--console: refusing plain HTTP on ${f.console}: give --console-tls-cert and --console-tls-key ` +
          `(or --tls-cert and --tls-key), listen on 127.0.0.1, or pass --insecure`,
      );
    return at;
  }
  return { ...at, tls: { certFile, keyFile } };
}
