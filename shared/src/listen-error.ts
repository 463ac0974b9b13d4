import { TbCodes, TbError } from './errors.js';

/**
 * Why a listener (a register's TCP or HTTP port, the status endpoint) could not be opened, told
 * from the error's errno code, as one line naming the address: what `run` prints when it cannot
 * start and what `check-config` reports. TB_CONFIG: the config names an address this machine
 * cannot listen on now.
 */
export function listenError(err: unknown, host: string, port: number): TbError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  let why: string;
  switch (code) {
    case 'EADDRINUSE':
      why = 'the port is already in use (by another program, or another copy of the agent)';
      break;
    case 'EACCES':
    case 'EPERM':
      why =
        port < 1024
          ? 'permission denied: ports below 1024 need root or the CAP_NET_BIND_SERVICE capability'
          : 'permission denied';
      break;
    case 'EADDRNOTAVAIL':
      why = `this machine has no address ${host}`;
      break;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      why = `the host name ${host} does not resolve`;
      break;
    default:
      why = (err as Error | undefined)?.message ?? String(err);
  }
  return new TbError(
    TbCodes.CONFIG,
    `cannot listen on ${host.includes(':') ? `[${host}]` : host}:${port}: ` +
      `${why}${code && !why.includes(code) ? ` (${code})` : ''}`,
    { cause: err, details: { errno: code } },
  );
}
