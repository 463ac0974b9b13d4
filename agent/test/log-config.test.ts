import { describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../src/config.js';
import { configProblems, minimalConfig } from './config-support.js';

const good = minimalConfig;
const problems = configProblems;

describe('log keys', () => {
  it("default: stdout only, 10 MB, 5 files kept; a relative log.file is taken from the config file's directory", () => {
    expect(parseAgentConfig(good).log).toEqual({ level: 'info', maxSizeMb: 10, keep: 5 });
    expect(
      parseAgentConfig({ ...good, log: { file: 'logs/agent.log', level: 'trace' } }, 'c', '/etc/tillbridge').log,
    ).toEqual({ level: 'trace', file: '/etc/tillbridge/logs/agent.log', maxSizeMb: 10, keep: 5 });
  });
  it('bad values name the key and what was expected', () => {
    expect(problems({ ...good, log: { maxSizeMb: 0 } }).join('\n')).toMatch(
      /log\.maxSizeMb.*a size in megabytes from 1 to 1024/,
    );
    expect(problems({ ...good, log: { keep: 2.5 } }).join('\n')).toMatch(/log\.keep: expected an integer/);
    expect(problems({ ...good, log: { file: '' } }).join('\n')).toMatch(/log\.file.*a file path/);
    expect(problems({ ...good, log: { level: 'verbose' } }).join('\n')).toMatch(/log\.level.*"trace"/);
    expect(problems({ ...good, log: { rotate: true } }).join('\n')).toMatch(/log.*rotate/);
  });
});
