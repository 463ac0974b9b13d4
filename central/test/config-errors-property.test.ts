import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '@tillbridge/shared';
import { exitOnUsageError } from '@tillbridge/shared/cli-start';
import { HUB_BIN } from '@tillbridge/scripts/lib/paths';
import { JsonLogProcess } from '@tillbridge/scripts/lib/process';
import { hubCommands } from '../src/cli/commands/hub.js';
import { EXIT } from '../src/cli/exit-codes.js';
import { initHub, type RunningHub } from '../src/hub.js';
import { runCli } from './cli-run.js';

/**
 * The hub's configuration is `serve`'s flags and their TILLBRIDGE_HUB_* variables (the systemd unit's hub.env,
 * installers/hub.env.example); docs/configuration.md ("The hub: flags") is its schema. The house rule for a bad one:
 * the error names the key (the flag, or for a value from the environment the flag or its variable) and what was
 * expected, and `serve` exits 2 before it starts anything. A valid set of settings gets one random mutation; whether it
 * is valid is decided by the model below, written from that table, not from the code. Where the docs do not say
 * (marked "undocumented" below), a mutation is only required not to crash `serve`.
 *
 * `serve` runs in process (the commands as the CLI mounts them, the usage errors as it exits on them) with startHub
 * replaced: settings that pass reach it, and the hub is not started. Twice, through the real binary.
 */

const RUNS = 300;

const hub = vi.hoisted(() => ({ starts: 0 }));
vi.mock(import('../src/hub.js'), async (importOriginal) => ({
  ...(await importOriginal()),
  startHub: () => {
    hub.starts++;
    return Promise.resolve({ url: 'http://127.0.0.1:7400', stop: () => Promise.resolve() } as unknown as RunningHub);
  },
}));

const dir = mkdtempSync(join(tmpdir(), 'tb-hub-config-prop-'));
const DATA = join(dir, 'hub');
const EMPTY = join(dir, 'empty');
const PASSWORD = 's3cret-Pw';

// ---- the model: each key, the values tried, and what the docs say of each ----

/** true: valid; false: refused; undefined: the docs do not say. */
type Verdict = boolean | undefined;
type Source = 'flag' | 'env';
interface Key {
  flag: string;
  env?: string;
  /** its value in the valid base (undefined: not given) */
  base?: string;
  /** a flag without a value (given or not) */
  boolean?: true;
  required?: true;
  tries: fc.Arbitrary<string>;
  verdict: (v: string) => Verdict;
  /** a rule across keys names these too */
  partners?: string[];
}

const DURATION_UNITS: Record<string, number> = { '': 1, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** "Durations: 900s, 15m, 2h, 1d, or milliseconds": the milliseconds, 'bad', or undefined (a fraction: undocumented) */
function durationMs(v: string): number | 'bad' | undefined {
  const m = /^(\d+)(\.\d+)?([a-z]*)$/.exec(v);
  const unit = m && Object.hasOwn(DURATION_UNITS, m[3]!) ? DURATION_UNITS[m[3]!] : undefined;
  if (unit === undefined) return 'bad';
  return m![2] === undefined ? Number(m![1]) * unit : undefined;
}
const durations = fc
  .tuple(
    fc.constantFrom('0', '1', '2', '15', '99', '100', '900', '0.5', '-5', '', 'x', '1e3'),
    fc.constantFrom('', 'ms', 's', 'm', 'h', 'd', 'w', 'min', ' m', '/'),
  )
  .map(([n, unit]) => n + unit);
const isDuration = (v: string): Verdict =>
  durationMs(v) === 'bad' ? false : durationMs(v) === undefined ? undefined : true;

/** HOST:PORT, for a listener without TLS: loopback only (no --insecure in the base). */
function address(v: string, other: { host: string; port: string }): Verdict {
  const at = v.lastIndexOf(':');
  if (at < 0) return false;
  const [host, port] = [v.slice(0, at), v.slice(at + 1)];
  if (!/^\d+$/.test(port) || Number(port) > 65_535 || (host.includes(':') && !/^\[[^\]]*\]$/.test(host))) return false;
  if (host === '') return undefined; // an empty host: undocumented
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(host)) return false; // plain HTTP beyond this machine
  if (port === other.port && port !== '0') return host === other.host ? false : undefined; // the same listener?
  return true;
}
const addresses = fc
  .tuple(
    fc.constantFrom('127.0.0.1', 'localhost', '[::1]', '', '0.0.0.0', '10.0.0.5', 'hub.example', '::1'),
    fc.constantFrom(':', '', '::'),
    fc.constantFrom('0', '7400', '7480', '7401', '65535', '65536', '99999', '-1', 'x', ''),
  )
  .map(([h, s, p]) => h + s + p);

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const EXCHANGE_CHARS = Array.from('abcXYZ019._:-');

const KEYS: Key[] = [
  {
    flag: '--data',
    env: 'TILLBRIDGE_HUB_DATA',
    base: DATA,
    required: true,
    tries: fc.constantFrom(DATA, EMPTY, join(dir, 'nowhere')),
    verdict: (v) => v === DATA, // the directory made by `tillbridge-hub init`
  },
  {
    flag: '--database',
    env: 'TILLBRIDGE_HUB_DATABASE',
    // a postgres:// URL would be valid, and is not tried: `serve` would connect to it
    tries: fc.constantFrom('mysql://db.example/tillbridge', 'sqlite:hub.sqlite', 'hub.sqlite', 'http://db.example'),
    verdict: () => false,
  },
  {
    flag: '--listen',
    env: 'TILLBRIDGE_HUB_LISTEN',
    base: '127.0.0.1:7400',
    tries: addresses,
    verdict: (v) => address(v, { host: '127.0.0.1', port: '7480' }),
    partners: ['--console'],
  },
  {
    flag: '--console',
    env: 'TILLBRIDGE_HUB_CONSOLE',
    base: '127.0.0.1:7480',
    tries: addresses.filter((v) => v !== ''), // an empty one: undocumented (no console?)
    verdict: (v) => address(v, { host: '127.0.0.1', port: '7400' }),
    partners: ['--listen'],
  },
  { flag: '--token-ttl', base: '15m', tries: durations, verdict: isDuration },
  {
    flag: '--token-limit',
    base: '10/5m',
    tries: fc
      .tuple(fc.constantFrom('0', '1', '10', '1000000', '-1', 'x', ''), fc.constantFrom('/', '', '//'), durations)
      .map(([count, sep, d]) => count + sep + d),
    verdict: (v) => {
      const m = /^(\d+)\/(.*)$/.exec(v);
      if (!m || Number(m[1]) < 1) return false;
      const ms = durationMs(m[2]!);
      return ms === 'bad' ? false : ms === undefined || ms < 1000 ? undefined : true; // under a second: undocumented
    },
  },
  {
    flag: '--audit-retention',
    base: '400d',
    tries: fc
      .tuple(
        fc.constantFrom('0', '1', '89', '90', '400', '90.5', '-90', '', 'x'),
        fc.constantFrom('', 'd', 'h', 'days'),
      )
      .map(([n, unit]) => n + unit),
    verdict: (v) => /^\d+d?$/.test(v) && Number(v.replace('d', '')) >= 90, // whole days, at least 90
  },
  {
    flag: '--webhook-timeout',
    base: '15s',
    tries: durations,
    // must be shorter than the lease (2m in the base); a lower bound is undocumented
    verdict: (v) => {
      const ms = durationMs(v);
      return ms === 'bad' ? false : ms === undefined || ms < 100 ? undefined : ms < 120_000;
    },
    partners: ['--webhook-lease'],
  },
  {
    flag: '--webhook-lease',
    base: '2m',
    tries: durations,
    verdict: (v) => {
      const ms = durationMs(v);
      return ms === 'bad' ? false : ms === undefined ? undefined : ms > 15_000; // longer than the timeout
    },
    partners: ['--webhook-timeout'],
  },
  {
    flag: '--log-level',
    env: 'TILLBRIDGE_HUB_LOG_LEVEL',
    base: 'warn',
    tries: fc.constantFrom(...LEVELS, 'loud', 'verbose', 'warning', 'notice', 'all', 'off', ''),
    verdict: (v) => LEVELS.includes(v), // docs/configuration.md names them
  },
  {
    flag: '--log-file',
    base: join(dir, 'hub.log'),
    tries: fc.constantFrom(join(dir, 'other.log'), join(dir, 'no-such-dir', 'hub.log'), dir, ''),
    verdict: (v) => v === join(dir, 'other.log'),
  },
  {
    flag: '--log-max-size',
    base: '10',
    tries: fc.constantFrom('1', '10', '1024', '1025', '0', '-1', '0.5', '1.5', 'x', '', '10MB'),
    verdict: (v) => /^\d+(\.\d+)?$/.test(v) && Number(v) >= 1 && Number(v) <= 1024,
  },
  {
    flag: '--log-keep',
    base: '5',
    tries: fc.constantFrom('1', '5', '100', '101', '0', '-1', '2.5', 'x', ''),
    verdict: (v) => /^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 100,
  },
  {
    flag: '--amqp-url',
    env: 'TILLBRIDGE_AMQP_URL',
    base: `amqp://feed:${PASSWORD}@127.0.0.1:5672/`,
    tries: fc.constantFrom(
      `amqps://feed:${PASSWORD}@mq.example:5671/stores`,
      'amqp://mq.example',
      `http://feed:${PASSWORD}@mq.example/`,
      `amqp://feed:${PASSWORD}@/x`,
      'not a url',
      'mq.example:5672',
      '',
    ),
    verdict: (v) => /^amqps?:\/\/([^@/]*@)?[^@/:]+(:\d+)?(\/.*)?$/.test(v), // amqp:// or amqps://, naming a host
  },
  {
    flag: '--amqp-exchange',
    base: 'tillbridge.feed',
    tries: fc.string({ unit: fc.constantFrom(...EXCHANGE_CHARS, ' ', '/', '#', '*', 'é'), maxLength: 70 }),
    // "letters, digits and . _ : - (at most 59)"; one starting with . _ : or -: undocumented
    verdict: (v) =>
      Array.from(v).some((c) => !EXCHANGE_CHARS.includes(c)) || v.length === 0 || v.length > 59
        ? false
        : /^[a-zA-Z0-9]/.test(v) || undefined,
  },
  {
    flag: '--require-client-cert',
    env: 'TILLBRIDGE_HUB_REQUIRE_CLIENT_CERT',
    base: '0',
    boolean: true,
    // a yes needs --tls-cert and --tls-key, which the base does not give; anything but a yes or a no is refused
    tries: fc.constantFrom('0', 'false', 'no', 'off', '1', 'true', 'yes', 'on', 'perhaps', '2', 'y'),
    verdict: (v) => ['0', 'false', 'no', 'off'].includes(v),
  },
  { flag: '--insecure', boolean: true, tries: fc.constant(''), verdict: () => true },
  ...(
    [
      ['--tls-cert', 'TILLBRIDGE_HUB_TLS_CERT', '--tls-key'],
      ['--tls-key', 'TILLBRIDGE_HUB_TLS_KEY', '--tls-cert'],
      ['--client-ca', 'TILLBRIDGE_HUB_CLIENT_CA', '--tls-cert'],
      ['--console-tls-cert', 'TILLBRIDGE_HUB_CONSOLE_TLS_CERT', '--console-tls-key'],
      ['--console-tls-key', 'TILLBRIDGE_HUB_CONSOLE_TLS_KEY', '--console-tls-cert'],
    ] as const
  ).map(([flag, env, partner]) => ({
    flag,
    env,
    // given alone: each goes with the other of its pair (--client-ca with --tls-cert and --tls-key)
    tries: fc.constant(join(dir, 'some.pem')),
    verdict: () => false,
    partners: [partner],
  })),
];

// ---- mutations ----

interface Setting {
  value: string | true;
  source: Source;
}
interface HubMutation {
  kind: 'value' | 'deleted' | 'unknown option';
  key?: Key;
  setting?: Setting;
  option?: string;
}
const show = (m: HubMutation): string =>
  m.kind === 'unknown option'
    ? `unknown option ${m.option!}`
    : m.kind === 'deleted'
      ? `${m.key!.flag} not given`
      : m.setting!.source === 'env'
        ? `${m.key!.env!}=${JSON.stringify(m.setting!.value)}`
        : `${m.key!.flag}${m.setting!.value === true ? '' : `=${JSON.stringify(m.setting!.value)}`}`;
const labelled = (m: HubMutation): HubMutation => Object.assign(m, { [fc.toStringMethod]: () => show(m) });

/** A value for the key from `values`, as its flag or through its variable. */
function valueOf(key: Key, values: fc.Arbitrary<string>): fc.Arbitrary<HubMutation> {
  const asFlag: fc.Arbitrary<Setting> = key.boolean
    ? fc.constant({ value: true, source: 'flag' })
    : values.map((v) => ({ value: v, source: 'flag' }));
  // an empty variable: unset, or empty? undocumented. A variable cannot hold a NUL.
  const asEnv: fc.Arbitrary<Setting> = values
    .filter((v) => v !== '' && !v.includes('\0'))
    .map((v) => ({ value: v, source: 'env' }));
  const settings = key.env === undefined ? asFlag : fc.oneof(asFlag, asEnv);
  return settings.map((setting) => labelled({ kind: 'value', key, setting }));
}
const nearMisses = KEYS.flatMap((k) => [k.flag.slice(0, -1), `${k.flag}s`, k.flag.replace('-', '')]);
const mutation: fc.Arbitrary<HubMutation> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...KEYS).chain((key) => valueOf(key, key.tries)) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(...KEYS.filter((k) => k.base !== undefined))
      .map((key) => labelled({ kind: 'deleted', key })),
  },
  {
    weight: 1,
    arbitrary: fc
      .oneof(fc.constantFrom(...nearMisses), fc.stringMatching(/^--[a-z][a-z-]{0,11}$/))
      .filter((o) => !KEYS.some((k) => k.flag === o))
      .map((option) => labelled({ kind: 'unknown option', option })),
  },
);

/** What the mutation should do: its verdict and the names its error may give. */
function expected(m: HubMutation): { verdict: Verdict; names: string[] } {
  if (m.kind === 'unknown option') return { verdict: false, names: [m.option!] };
  const key = m.key!;
  const own = m.setting?.source === 'env' ? [key.flag, key.env!] : [key.flag];
  const names = [...own, ...(key.partners ?? [])];
  if (m.kind === 'deleted') return { verdict: !key.required, names };
  const { value } = m.setting!;
  return { verdict: value === true ? key.verdict('1') : key.verdict(value), names };
}

/** The flags and variables of the base, with the mutation applied when there is one. */
function settingsOf(m?: HubMutation): { args: string[]; env: Record<string, string> } {
  const given = new Map<Key, Setting>();
  for (const k of KEYS) if (k.base !== undefined) given.set(k, { value: k.base, source: k.boolean ? 'env' : 'flag' });
  if (m?.kind === 'value') given.set(m.key!, m.setting!);
  if (m?.kind === 'deleted') given.delete(m.key!);
  const args: string[] = [];
  const env: Record<string, string> = {};
  for (const [k, s] of given) {
    if (s.source === 'env') env[k.env!] = s.value as string;
    else args.push(s.value === true ? k.flag : `${k.flag}=${s.value}`);
  }
  if (m?.kind === 'unknown option') args.push(`${m.option!}=x`);
  return { args, env };
}

// ---- running serve ----

const OUR_VARIABLES = KEYS.flatMap((k) => (k.env === undefined ? [] : [k.env]));
const saved = Object.fromEntries(OUR_VARIABLES.map((v) => [v, process.env[v]]));
beforeAll(() => {
  for (const v of OUR_VARIABLES) Reflect.deleteProperty(process.env, v);
  mkdirSync(EMPTY);
  initHub(DATA, createLogger({ name: 'test', level: 'silent' }));
});
afterAll(() => {
  for (const [v, value] of Object.entries(saved)) if (value !== undefined) process.env[v] = value;
  rmSync(dir, { recursive: true, force: true });
});

interface Served {
  code: number;
  stderr: string;
  /** whether startHub was reached (the settings were accepted) */
  started: boolean;
}
/** `tillbridge-hub serve ARGS` in process with `env` set, as the CLI runs it (a usage error exits 2). */
async function serve(args: string[], env: Record<string, string>): Promise<Served> {
  const signals = ['SIGINT', 'SIGTERM'] as const;
  const listeners = signals.map((s) => process.listeners(s));
  const starts = hub.starts;
  Object.assign(process.env, env);
  try {
    const mount: Parameters<typeof runCli>[0] = (ctx) => {
      hubCommands(ctx);
      exitOnUsageError(ctx.program, EXIT.USAGE);
    };
    const r = await runCli(mount, 'http://127.0.0.1:9', undefined, ['serve', ...args]);
    return { code: r.code, stderr: r.stderr, started: hub.starts > starts };
  } finally {
    for (const v of Object.keys(env)) Reflect.deleteProperty(process.env, v);
    // a start that was accepted set its signal handlers: this process is not to be stopped by them
    signals.forEach((s, i) => {
      for (const l of process.listeners(s)) if (!listeners[i]!.includes(l)) process.off(s, l);
    });
  }
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** One of the names, whole (`--console` is not named by `--console-tls-cert`). */
const namesOneOf = (names: string[]): RegExp => new RegExp(`(${names.map(escape).join('|')})(?![\\w-])`);
/** What an error says was expected, or what to do instead. */
const SAYS =
  /expected|at least|must be|go together|need|give|not specified|unknown option|Allowed choices are|run `tillbridge-hub init|cannot open/;

function expectRefusal(m: HubMutation, names: string[], r: { code: number | null; stderr: string }): void {
  expect(r.code, `${show(m)}: ${r.stderr}`).toBe(EXIT.USAGE);
  expect(r.stderr, `${show(m)} should name ${names.join(' or ')}`).toMatch(namesOneOf(names));
  expect(r.stderr, show(m)).toMatch(SAYS);
}

describe('tillbridge-hub serve: a bad setting is named, with what was expected, and it exits 2', () => {
  it('the base settings start the hub, and nothing is said', async () => {
    const { args, env } = settingsOf();
    expect(env).toEqual({ TILLBRIDGE_HUB_REQUIRE_CLIENT_CERT: '0' });
    const r = await serve(args, env);
    expect(r).toEqual({ code: 0, stderr: '', started: true });
  });

  it('names the key in the errors this test found unnamed (2026-12-03)', async () => {
    const base = settingsOf();
    /** serve with the base settings, but `args` and `env` instead of their flags (a flag wins over its variable) */
    const refusal = async (args: string[], env: Record<string, string>, flagsOfEnv: string[] = []) => {
      const given = new Set([...args.map((a) => a.split('=')[0]), ...flagsOfEnv]);
      const kept = base.args.filter((a) => !given.has(a.split('=')[0]));
      const r = await serve([...kept, ...args], { ...base.env, ...env });
      return { code: r.code, started: r.started, stderr: r.stderr.split('\n')[0] };
    };
    const no = (stderr: string) => ({ code: EXIT.USAGE, started: false, stderr });
    expect(await refusal(['--listen=127.0.0.1:x'], {})).toEqual(
      no('error: --listen (TILLBRIDGE_HUB_LISTEN): expected HOST:PORT, got "127.0.0.1:x"'),
    );
    expect(await refusal(['--token-ttl='], {})).toEqual(
      no('error: --token-ttl: expected a duration such as 15m, 900s or 2h, got ""'),
    );
    expect(await refusal([], { TILLBRIDGE_HUB_LOG_LEVEL: 'loud' }, ['--log-level'])).toEqual(
      no(
        "error: option '--log-level <level>' value 'loud' from env 'TILLBRIDGE_HUB_LOG_LEVEL' is invalid. " +
          'Allowed choices are fatal, error, warn, info, debug, trace, silent.',
      ),
    );
    expect((await refusal([], { TILLBRIDGE_HUB_LISTEN: '0.0.0.0:7400' }, ['--listen'])).stderr).toMatch(
      /^error: --listen \(TILLBRIDGE_HUB_LISTEN\): refusing plain HTTP on 0\.0\.0\.0:7400: give --tls-cert/,
    );
    expect(await refusal(['--console=127.0.0.1:65536'], {})).toEqual(
      no('error: --console: expected a port from 0 to 65535, got 65536 in "127.0.0.1:65536"'),
    );
  });

  it('one mutation of one key: refused naming it when the docs refuse it, accepted when they accept it', async () => {
    await fc.assert(
      fc.asyncProperty(mutation, async (m) => {
        const { verdict, names } = expected(m);
        const { args, env } = settingsOf(m);
        const r = await serve(args, env);
        expect(r.stderr, 'the password of the AMQP URL is never shown').not.toContain(PASSWORD);
        if (verdict === undefined) {
          expect([0, EXIT.USAGE], `${show(m)}: ${r.stderr}`).toContain(r.code);
          if (r.code === EXIT.USAGE) expect(r.stderr, show(m)).toMatch(namesOneOf(names));
        } else if (verdict) {
          expect(r, show(m)).toEqual({ code: 0, stderr: '', started: true });
        } else {
          expectRefusal(m, names, r);
          expect(r.started).toBe(false);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('any text as any value, of a flag or a variable: accepted, or refused naming the key; never a crash', async () => {
    const anyText = fc.string({ unit: 'binary', maxLength: 40 }).filter((v) => !/^postgres(ql)?:\/\//i.test(v));
    // --log-file is left out: any text is a path, and it would be written to
    const keys = KEYS.filter((k) => !k.boolean && k.flag !== '--log-file');
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...keys).chain((key) => valueOf(key, anyText)),
        async (m) => {
          const { args, env } = settingsOf(m);
          const r = await serve(args, env);
          expect([0, EXIT.USAGE], `${show(m)}: ${r.stderr}`).toContain(r.code);
          if (r.code === EXIT.USAGE) expectRefusal(m, expected(m).names, r);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('the real tillbridge-hub serve with a mutated hub.env or flag', () => {
  it('exits 2 naming the key (two mutations the docs refuse, through the real binary)', async () => {
    const refused = mutation.filter((m) => expected(m).verdict === false);
    await fc.assert(
      fc.asyncProperty(refused, async (m) => {
        const { args, env } = settingsOf(m);
        const p = JsonLogProcess.spawn('hub', process.execPath, [HUB_BIN, 'serve', ...args], env);
        try {
          const exited = await Promise.race([p.exited, new Promise((r) => setTimeout(r, 20_000, 'still running'))]);
          expect(exited, `${show(m)}: serve started`).not.toBe('still running');
          const stderr = p.stderr.join('\n');
          expectRefusal(m, expected(m).names, { code: (exited as { code: number | null }).code, stderr });
          expect(stderr).not.toContain(PASSWORD);
        } finally {
          await p.stop();
        }
      }),
      { numRuns: 2, seed: 20_261_203 },
    );
  });
});
