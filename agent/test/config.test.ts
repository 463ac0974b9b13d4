import { describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../src/config.js';
import { TbError } from '@tillbridge/shared';

const good = {
  store: 'S1',
  dataDir: '/tmp/x',
  hub: { url: 'ws://127.0.0.1:7400', apiKey: 'tbk_0123456789' },
  registers: [{ id: 'R1', transport: { type: 'tcp-server', port: 7410 } }],
};

function problems(raw: unknown): string[] {
  try {
    parseAgentConfig(raw);
  } catch (err) {
    return ((err as TbError).details?.problems as string[]) ?? [];
  }
  return [];
}

describe('agent config', () => {
  it('fills defaults and freezes the result', () => {
    const c = parseAgentConfig(good);
    expect(c.hub.authorizationDeadlineMs).toBe(1500);
    expect(c.offline.maxRefund).toBe(10_000);
    expect(c.registers[0]!.codec).toBe('jsonl');
    expect(Object.isFrozen(c.hub)).toBe(true);
  });

  it('names each bad key and what was expected', () => {
    expect(problems({ ...good, hub: { ...good.hub, url: 'http://x' } })).toEqual([expect.stringMatching(/^hub\.url: expected a ws:\/\/ or wss:\/\/ URL/)]);
    expect(problems({ ...good, registers: [{ id: 'R1', transport: { type: 'tcp-server', port: 'abc' } }] })).toEqual([
      expect.stringMatching(/^registers\[0\]\.transport\.port: expected number, got string/),
    ]);
    expect(problems({ ...good, registr: [] })[0]).toMatch(/unknown key "registr"/);
    expect(problems({ ...good, store: undefined })[0]).toMatch(/^store: expected string \(missing\)/);
  });

  it('refuses duplicate register ids and ports', () => {
    const r = { id: 'R1', transport: { type: 'tcp-server', port: 7410 } };
    const p = problems({ ...good, registers: [r, r] });
    expect(p.some((x) => x.startsWith('registers[1].id'))).toBe(true);
    expect(p.some((x) => x.startsWith('registers[1].transport.port'))).toBe(true);
  });
});
