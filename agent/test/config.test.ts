import { describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../src/config.js';
import { configProblems, minimalConfig } from './config-support.js';

const good = minimalConfig;
const problems = configProblems;

describe('agent config', () => {
  it('fills defaults and freezes the result', () => {
    const c = parseAgentConfig(good);
    expect(c.hub.authorizationDeadlineMs).toBe(1500);
    expect(c.offline.maxRefund).toBe(10_000);
    expect(c.registers[0]!.codec).toEqual({ type: 'jsonl' });
    expect(Object.isFrozen(c.hub)).toBe(true);
  });

  it('names each bad key and what was expected', () => {
    expect(problems({ ...good, hub: { ...good.hub, url: 'http://x' } })).toEqual([
      expect.stringMatching(/^hub\.url: expected a ws:\/\/ or wss:\/\/ URL/),
    ]);
    expect(problems({ ...good, registers: [{ id: 'R1', transport: { type: 'tcp-server', port: 'abc' } }] })).toEqual([
      expect.stringMatching(/^registers\[0\]\.transport\.port: expected number, got string/),
    ]);
    expect(problems({ ...good, registr: [] })[0]).toMatch(/unknown key "registr"/);
    expect(problems({ ...good, store: undefined })[0]).toMatch(/^store: expected string \(missing\)/);
  });

  it("names a POSLog register's bad time zone; none named leaves it to the host's zone", () => {
    const poslog = (codec: object) => ({
      ...good,
      registers: [{ id: 'POS1', transport: { type: 'http', port: 7420 }, codec: { type: 'poslog', ...codec } }],
    });
    expect(problems(poslog({ timeZone: 'Mars/Base' }))).toEqual([
      expect.stringMatching(
        /^registers\[0\]\.codec\.timeZone: expected a time zone: "Z", an offset such as "\+01:00", or an IANA zone/,
      ),
    ]);
    expect(parseAgentConfig(poslog({ timeZone: 'America/New_York' })).registers[0]!.codec).toMatchObject({
      timeZone: 'America/New_York',
    });
    expect(parseAgentConfig(poslog({})).registers[0]!.codec).not.toHaveProperty('timeZone');
  });

  it("names the codec's own key when its type picked the codec, and the codec as a whole when nothing did", () => {
    const codec = (c: unknown) =>
      problems({ ...good, registers: [{ id: 'R1', transport: { type: 'tcp-server', port: 7410 }, codec: c }] });
    expect(codec({ type: 'delimited' })).toEqual(['registers[0].codec.profile: expected string (missing)']);
    expect(codec({ type: 'poslog', minorUnitDigits: [] })).toEqual([
      'registers[0].codec.minorUnitDigits: expected number, got an array',
    ]);
    expect(codec({ type: 'poslog', receiptKey: 'x' })).toEqual([
      'registers[0].codec.receiptKey: expected one of "sequence", "transaction-id"',
    ]);
    expect(codec({ type: 'jsonl', x: 1 })).toEqual([
      'registers[0].codec: unknown key "x" (remove or fix the spelling)',
    ]);
    const whole = 'expected a codec: "jsonl", or {"type":"poslog"|"delimited"|"fixed", …}';
    expect(codec({ type: 'nope' })).toEqual([`registers[0].codec.type: ${whole}`]);
    expect(codec('jsonlx')).toEqual([`registers[0].codec: ${whole}`]);
  });

  it('allows plain ws:// only to a hub on this machine, judged on the host the client connects to', () => {
    const url = (u: string, insecure?: boolean) =>
      problems({ ...good, hub: { ...good.hub, url: u, ...(insecure === undefined ? {} : { insecure }) } });
    for (const ok of ['ws://127.0.0.1:7400', 'ws://[::1]:7400', 'ws://localhost:7400', 'wss://hub.example:7400'])
      expect(url(ok), ok).toEqual([]);
    for (const bad of [
      'ws://127.0.0.1.nip.io:7400',
      'ws://127.hub.example',
      'ws://127.0.0.1@hub.example:7400',
      'ws://10.0.0.5:7400',
    ]) {
      expect(url(bad), bad).toEqual([
        expect.stringMatching(/^hub\.url: expected a wss:\/\/ URL for a hub that is not on this machine/),
      ]);
      expect(url(bad, true), bad).toEqual([]);
    }
  });

  it('takes one hub URL (hub.url) or a list of them (hub.urls), exactly one of the two', () => {
    const { url: _url, ...noUrl } = good.hub;
    expect(parseAgentConfig(good).hub.urls).toEqual(['ws://127.0.0.1:7400']);
    const two = parseAgentConfig({
      ...good,
      hub: { ...noUrl, urls: ['ws://127.0.0.1:7400', 'wss://hub-b.example:7400'] },
    });
    expect(two.hub.urls).toEqual(['ws://127.0.0.1:7400', 'wss://hub-b.example:7400']);
    expect(two.hub).not.toHaveProperty('url');
    expect(problems({ ...good, hub: noUrl })).toEqual([
      expect.stringMatching(/^hub\.url: expected the hub's URL \(hub\.url\), or a list of them \(hub\.urls\)/),
    ]);
    expect(problems({ ...good, hub: { ...good.hub, urls: ['ws://127.0.0.1:7401'] } })).toEqual([
      expect.stringMatching(/^hub\.urls: expected hub\.url or hub\.urls, not both/),
    ]);
    expect(problems({ ...good, hub: { ...noUrl, urls: [] } })).toEqual([
      expect.stringMatching(/^hub\.urls: expected a list of 1 to 8 hub URLs/),
    ]);
    const nine = Array.from({ length: 9 }, (_, i) => `wss://hub-${i}.example`);
    expect(problems({ ...good, hub: { ...noUrl, urls: nine } })).toEqual([
      expect.stringMatching(/^hub\.urls: expected a list of 1 to 8 hub URLs/),
    ]);
  });

  it('checks each URL of hub.urls by the rules of hub.url, naming it by its index', () => {
    const { url: _url, ...noUrl } = good.hub;
    const urls = (list: unknown[], insecure?: boolean) =>
      problems({ ...good, hub: { ...noUrl, urls: list, ...(insecure === undefined ? {} : { insecure }) } });
    expect(urls(['wss://hub-a.example', 'http://hub-b.example'])).toEqual([
      expect.stringMatching(/^hub\.urls\[1\]: expected a ws:\/\/ or wss:\/\/ URL/),
    ]);
    expect(urls(['ws://127.0.0.1:7400', 'ws://10.0.0.5:7400'])).toEqual([
      expect.stringMatching(/^hub\.urls\[1\]: expected a wss:\/\/ URL for a hub that is not on this machine/),
    ]);
    expect(urls(['ws://127.0.0.1:7400', 'ws://10.0.0.5:7400'], true)).toEqual([]);
    expect(urls(['wss://hub-a.example', 7400])).toEqual([
      expect.stringMatching(/^hub\.urls\[1\]: expected string, got number/),
    ]);
    expect(urls(['wss://hub-a.example', 'wss://hub-b.example', 'wss://hub-a.example'])).toEqual([
      expect.stringMatching(/^hub\.urls\[2\]: expected a URL not already in the list \(it is also hub\.urls\[0\]\)/),
    ]);
  });

  it('accepts every transport, framing and codec, and picks a framing when none is named', async () => {
    const { defaultFraming } = await import('../src/config.js');
    const c = parseAgentConfig(
      {
        ...good,
        registers: [
          {
            id: 'R1',
            transport: { type: 'serial', path: '/dev/ttyUSB0', baudRate: 19200, parity: 'even' },
            framing: { type: 'stx-etx' },
            codec: { type: 'delimited', profile: '../../installers/profiles/acme-ecr-400-delimited.json' },
          },
          {
            id: 'R2',
            transport: { type: 'tcp-client', host: '10.0.0.7', port: 9100 },
            codec: { type: 'poslog', defaultCurrency: 'EUR' },
          },
          { id: 'R3', transport: { type: 'http', port: 7420 } },
          { id: 'R4', transport: { type: 'http', port: 7420 }, codec: 'jsonl' },
          { id: 'R5', transport: { type: 'hid', vendorId: '0x05e0', productId: 4608 } },
        ],
        scanners: [{ id: 'SC1', register: 'R1', vendorId: 1504, productId: '1200', mode: 'keyboard' }],
      },
      'test',
      new URL('.', import.meta.url).pathname,
    );
    expect(c.registers.map((r) => defaultFraming(r).type)).toEqual([
      'line',
      'length-prefixed',
      'message',
      'message',
      'line',
    ]);
    expect(c.registers[0]!.codec).toMatchObject({
      type: 'delimited',
      profile: expect.stringMatching(/installers\/profiles\/acme-ecr-400-delimited\.json$/),
    });
    expect(c.registers[4]!.transport).toMatchObject({ vendorId: 0x05e0, productId: 4608 });
  });

  it("refuses a scanner whose id is a register's or another scanner's (the hub keeps terminals by id)", () => {
    const scanner = (id: string) => ({ id, register: 'R1', vendorId: 1, productId: 2, mode: 'pos' });
    const register = { id: 'R1', transport: { type: 'tcp-server', port: 9100 }, codec: 'jsonl' };
    expect(
      problems({ ...good, registers: [register], scanners: [scanner('R1'), scanner('SC1'), scanner('SC1')] }),
    ).toEqual([
      'scanners[0].id: expected an id no register or other scanner has ("R1" is also registers[0])',
      'scanners[2].id: expected an id no register or other scanner has ("SC1" is also scanners[1])',
    ]);
  });

  it('names a bad record profile and a scanner without its register', () => {
    const badProfile = {
      id: 'R1',
      transport: { type: 'tcp-server', port: 1 },
      codec: { type: 'fixed', profile: '/nonexistent/profile.json' },
    };
    const p = problems({
      ...good,
      registers: [badProfile],
      scanners: [{ id: 'SC1', register: 'R9', vendorId: 1, productId: 2, mode: 'pos' }],
    });
    expect(p).toEqual([expect.stringMatching(/^scanners\[0\]\.register: expected the id of a configured register/)]);
    const q = problems({ ...good, registers: [badProfile] });
    expect(q).toEqual([expect.stringMatching(/^registers\[0\]\.codec\.profile: cannot read profile/)]);
  });

  it('refuses duplicate register ids and ports', () => {
    const r = { id: 'R1', transport: { type: 'tcp-server', port: 7410 } };
    const p = problems({ ...good, registers: [r, r] });
    expect(p.some((x) => x.startsWith('registers[1].id'))).toBe(true);
    expect(p.some((x) => x.startsWith('registers[1].transport.port'))).toBe(true);
  });
});
