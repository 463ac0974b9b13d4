import { Option } from 'commander';
import { isTbError, TbCodes } from '@tillbridge/shared';
import { loadAgentConfig, type AgentConfig } from '../config.js';
import { EXIT } from './exit-codes.js';

/** What the agent's commands that read a config file share: the option, and exiting 2 on a bad file. */

export const configOpt = (): Option =>
  new Option('-c, --config <file>', 'agent config file (JSON); default: $TILLBRIDGE_CONFIG');

export function configPath(opt: string | undefined): string {
  const file = opt ?? process.env.TILLBRIDGE_CONFIG;
  if (!file) {
    process.stderr.write('error: no config file: pass --config FILE or set TILLBRIDGE_CONFIG\n');
    process.exit(EXIT.USAGE);
  }
  return file;
}

export function loadOrExit(file: string): Readonly<AgentConfig> {
  return orExit(() => loadAgentConfig(file));
}

/** Runs `f`; a configuration error is printed and exits with the usage code. */
export function orExit<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (isTbError(err, TbCodes.CONFIG)) {
      process.stderr.write(`error: ${err.message}\n`);
      process.exit(EXIT.USAGE);
    }
    throw err;
  }
}
