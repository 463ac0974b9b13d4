import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { isTbError, TbCodes } from '@tillbridge/shared';
import { AGENT_BIN } from '@tillbridge/scripts/lib/paths';
import { runCommand } from '@tillbridge/scripts/lib/process';
import { AgentConfigSchema, loadAgentConfig, parseAgentConfig } from '../src/config.js';
import { HttpTransportSchema } from '../src/gateway/transports/http-schemas.js';

/**
 * The house rule for a bad config (docs/configuration.md): every problem names its key and what was expected, and the
 * process exits non-zero. A valid config (the shipped example, or one using every key) gets one random mutation at one
 * random key path; what the mutation should do is computed from the schema itself (its JSON Schema, checked with ajv),
 * not written down case by case. Where the JSON Schema cannot tell (refinements and cross-key rules, listed below),
 * a mutation it accepts is only required not to crash the parser.
 */

const RUNS = 400;
const ROOT = new URL('../../', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'tb-config-prop-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
// the files the full config names (only read, never parsed, when the config is loaded)
for (const f of ['hub-ca.pem', 'store.pem', 'store-key.pem']) writeFileSync(join(dir, f), '-----BEGIN X-----\n');

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Seg = string | number;

/** A key path as the docs write it: `registers[2].transport.port`. */
const pathText = (p: readonly Seg[]): string =>
  p.reduce<string>((out, s) => (typeof s === 'number' ? `${out}[${s}]` : out ? `${out}.${s}` : s), '');
/** The same with every index a `*`: `registers[*].transport.port`. */
const pattern = (p: readonly Seg[]): string =>
  pathText(p.map((s) => (typeof s === 'number' ? -1 : s))).replace(/-1/g, '*');

const SHIPPED = JSON.parse(readFileSync(join(ROOT, 'installers/agent.json.example'), 'utf8')) as Json;
const RECONNECT = { reconnectBaseMs: 500, reconnectCapMs: 10_000 };
/** Every section, transport, codec and framing, each key given a value. */
const FULL: Json = {
  store: 'S-042',
  dataDir: 'data',
  hub: {
    urls: ['wss://hub-a.example:7400', 'wss://hub-b.example:7400'],
    apiKey: 'tbk_0123456789abcdef',
    authorizationDeadlineMs: 1500,
    heartbeatMs: 15_000,
    reconnectBaseMs: 500,
    reconnectCapMs: 30_000,
    uploadBatchMax: 500,
    caFile: 'hub-ca.pem',
    fingerprint: Array.from({ length: 32 }, (_, i) => (i * 7 + 16).toString(16).toUpperCase()).join(':'),
    certFile: 'store.pem',
    keyFile: 'store-key.pem',
    insecure: false,
    tokenRefreshAt: 0.8,
  },
  registers: [
    {
      id: 'R1',
      transport: { type: 'tcp-server', host: '127.0.0.1', port: 7410, maxConnections: 4 },
      codec: 'jsonl',
      framing: { type: 'line', terminator: '\r\n', maxFrameBytes: 65_536, interByteTimeoutMs: 0 },
    },
    {
      id: 'R2',
      transport: { type: 'tcp-client', host: '10.0.0.7', port: 9100, connectTimeoutMs: 5000, keepAliveMs: 10_000 },
      codec: {
        type: 'poslog',
        defaultCurrency: 'EUR',
        minorUnitDigits: 2,
        timeZone: 'Europe/Stockholm',
        receiptKey: 'sequence',
        maxTransactions: 200,
      },
      framing: { type: 'length-prefixed', bytes: 4, maxFrameBytes: 1_048_576, interByteTimeoutMs: 5000 },
    },
    {
      id: 'R3',
      transport: {
        type: 'serial',
        path: '/dev/ttyUSB0',
        baudRate: 19_200,
        dataBits: 8,
        parity: 'even',
        stopBits: 1,
        flowControl: 'none',
        ...RECONNECT,
      },
      codec: { type: 'delimited', profile: join(ROOT, 'installers/profiles/acme-ecr-400-delimited.json') },
      framing: { type: 'stx-etx', lrc: true, ack: true, maxFrameBytes: 4096, interByteTimeoutMs: 2000 },
    },
    {
      id: 'R4',
      // every key of the http transport, at its default
      transport: HttpTransportSchema.parse({ type: 'http', port: 7420 }) as Json,
      codec: { type: 'jsonl' },
      framing: { type: 'message', maxFrameBytes: 65_536 },
    },
    {
      id: 'R5',
      transport: {
        type: 'hid',
        vendorId: '0x05e0',
        productId: 4608,
        serialNumber: 'SN-1',
        path: '/dev/hidraw3',
        pollMs: 1000,
        ...RECONNECT,
        reportId: 0,
        reportSize: 64,
        reportLengthByte: false,
      },
      codec: { type: 'fixed', profile: join(ROOT, 'installers/profiles/contoso-fixed-80.json') },
    },
  ],
  scanners: [
    {
      id: 'SC1',
      register: 'R1',
      vendorId: 1504,
      productId: '1200',
      serialNumber: 'SN-2',
      path: '/dev/hidraw4',
      pollMs: 1000,
      ...RECONNECT,
      mode: 'keyboard',
    },
  ],
  offline: { maxRefund: 10_000 },
  status: { listen: '127.0.0.1:7409' },
  log: { level: 'info', file: 'agent.log', maxSizeMb: 10, keep: 5 },
};

/**
 * What the JSON Schema cannot see: rules across keys (config.ts: the hub's superRefine on url, urls, insecure and
 * fingerprint, the top level's on certFile/keyFile, register ids, listener ports, serial paths and scanners, each
 * reconnecting transport's cap not below its base) and files read after the schema (hub.caFile/certFile/keyFile, a
 * codec's profile, which must also match codec.type). A mutation the JSON Schema accepts on one of these keys, or on
 * a key above or below one, may or may not parse. The first test checks that this list has every object with a rule.
 */
const CROSS_KEY: Record<string, string[]> = {
  '': [
    'hub.certFile',
    'hub.keyFile',
    'registers[*].id',
    'registers[*].transport',
    'scanners[*].id',
    'scanners[*].register',
  ],
  hub: ['hub.url', 'hub.urls', 'hub.insecure', 'hub.fingerprint'],
  'registers[*].transport': ['registers[*].transport.reconnectBaseMs', 'registers[*].transport.reconnectCapMs'],
  'scanners[*]': ['scanners[*].reconnectBaseMs', 'scanners[*].reconnectCapMs'],
  'files read after the schema': ['hub.caFile', 'hub.certFile', 'hub.keyFile', 'registers[*].codec'],
};
const crossKeyPaths = Object.values(CROSS_KEY).flat();
const under = (x: string, y: string): boolean => x.startsWith(`${y}.`) || x.startsWith(`${y}[`);
/** One key path is the other, or above or below it. */
const related = (a: string, b: string): boolean => a === b || under(a, b) || under(b, a);

// ---- the schema, as JSON Schema (what ajv checks) and as zod nodes (where refinements hide) ----

interface Node {
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  properties?: Record<string, Node>;
  required?: string[];
  additionalProperties?: boolean;
  items?: Node;
  anyOf?: Node[];
  oneOf?: Node[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
}
const JSON_SCHEMA = z.toJSONSchema(AgentConfigSchema, { io: 'input', unrepresentable: 'any' }) as Node;
const ajv = new Ajv2020({ strict: false, allErrors: true, unicodeRegExp: false });
const schemaAccepts = ajv.compile(JSON_SCHEMA);

const branches = (n: Node): Node[] => n.anyOf ?? n.oneOf ?? [];
/** The branch of a union the (valid) value takes, through nested unions. */
function branchOf(n: Node, value: unknown): Node {
  const bs = branches(n);
  if (bs.length === 0) return n;
  const b = bs.find((x) => ajv.validate(x, value));
  if (!b) throw new Error(`no branch takes ${JSON.stringify(value)}`);
  return branchOf(b, value);
}
/** The JSON types a node allows (undefined: any). */
function jsonTypes(n: Node): Set<string> | undefined {
  const bs = branches(n);
  if (bs.length > 0) {
    const all = bs.map(jsonTypes);
    return all.some((t) => t === undefined) ? undefined : new Set(all.flatMap((t) => [...t!]));
  }
  const types = n.type ?? (n.const !== undefined ? jsonType(n.const) : n.enum?.map(jsonType));
  if (types === undefined) return undefined;
  return new Set((Array.isArray(types) ? types : [types]).map((t) => (t === 'integer' ? 'number' : t)));
}
const jsonType = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

const hasCustomCheck = (s: z.ZodType): boolean =>
  (s.def as { checks?: { _zod: { def: { check: string } } }[] }).checks?.some((c) => c._zod.def.check === 'custom') ??
  false;
/** The zod node under optional/default/pipe wrappers; `refined` when a refinement or transform was on the way. */
function unwrap(s: z.ZodType, value: unknown): { node: z.ZodType; refined: boolean } {
  let refined = hasCustomCheck(s);
  for (;;) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodDefault) s = s.def.innerType as z.ZodType;
    else if (s instanceof z.ZodPipe) {
      refined = true;
      // a preprocess (a transform first) is checked by what follows it
      s = (s.def.in instanceof z.ZodTransform ? s.def.out : s.def.in) as z.ZodType;
    } else if (s instanceof z.ZodUnion && value !== undefined) {
      const options = s.def.options as z.ZodType[];
      s = options.find((o) => o.safeParse(value).success) ?? options[0]!;
    } else return { node: s, refined: refined || hasCustomCheck(s) };
    refined ||= hasCustomCheck(s);
  }
}

interface Site {
  path: Seg[];
  present: boolean;
  /** the node as written (a union stays a union) and the branch the base value takes */
  node: Node;
  branch: Node;
  /** its own zod schema refines or transforms it: a value the JSON Schema accepts may still be refused */
  refined: boolean;
}
interface Base {
  name: string;
  value: Json;
  sites: Site[];
}

/** Every key path of a config, and every key its objects could have but do not. */
function sitesOf(value: Json): Site[] {
  const out: Site[] = [];
  const walk = (v: Json | undefined, n: Node, zs: z.ZodType, path: Seg[]): void => {
    const branch = v === undefined ? n : branchOf(n, v);
    const { node, refined } = unwrap(zs, v);
    out.push({ path, present: v !== undefined, node: n, branch, refined }); // the top level: for an unknown key
    if (v === undefined) return;
    if (branch.properties && node instanceof z.ZodObject && v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const shape = node.shape as Record<string, z.ZodType>;
      for (const [k, child] of Object.entries(branch.properties)) walk(v[k], child, shape[k]!, [...path, k]);
    }
    if (branch.items && node instanceof z.ZodArray && Array.isArray(v))
      v.forEach((item, i) => walk(item, branch.items!, node.element as z.ZodType, [...path, i]));
  };
  walk(value, JSON_SCHEMA, AgentConfigSchema, []);
  return out;
}
const BASES: Base[] = [
  { name: 'installers/agent.json.example', value: SHIPPED, sites: sitesOf(SHIPPED) },
  { name: 'a config with every key', value: FULL, sites: sitesOf(FULL) },
];

// ---- mutations ----

interface Mutation {
  base: Base;
  site: Site;
  kind: string;
  /** the new value; `undefined`: the key deleted */
  value?: Json;
  /** for an unknown key: its name (added to the object at `site.path`) */
  key?: string;
}

const WRONG_TYPED: Json[] = ['7410', '', 'true', 7410, 0, -1, 1.5, true, false, null, [], [1], {}, { type: 'x' }];

/** Values that break one constraint of the node each (undefined where the node has no such constraint). */
function constraintBreakers(n: Node): fc.Arbitrary<{ kind: string; value: Json }>[] {
  const out: fc.Arbitrary<{ kind: string; value: Json }>[] = [];
  const one = (kind: string, value: Json) => out.push(fc.constant({ kind, value }));
  const types = jsonTypes(n);
  if (n.minimum !== undefined) one('below its minimum', n.minimum - 1);
  if (n.maximum !== undefined) one('above its maximum', n.maximum + (n.maximum >= Number.MAX_SAFE_INTEGER ? 2 : 1));
  if (n.type === 'integer') one('not a whole number', (n.minimum ?? 0) + 0.5);
  if (n.minLength !== undefined && n.minLength > 0) one('too short', 'x'.repeat(n.minLength - 1));
  if (n.maxLength !== undefined) one('too long', 'x'.repeat(n.maxLength + 1));
  if (n.minItems !== undefined && n.minItems > 0) one('too few items', []);
  if (n.pattern !== undefined) {
    const re = new RegExp(n.pattern);
    const notMatching = fc.oneof(fc.string(), fc.constantFrom('', ' ', 'ws:/x', 'R 1', '-R1', 'eur', 'x'.repeat(65)));
    out.push(notMatching.filter((s) => !re.test(s)).map((value) => ({ kind: 'not matching its pattern', value })));
  }
  const allowed = n.enum ?? (n.const !== undefined ? [n.const] : undefined);
  if (allowed && types?.has('string'))
    out.push(
      fc
        .oneof(fc.string(), fc.constantFrom(...allowed.map((a) => String(a).toUpperCase())), fc.constant('tcp_server'))
        .filter((s) => !allowed.includes(s))
        .map((value) => ({ kind: 'not one of its values', value })),
    );
  if (allowed && types?.has('number')) one('not one of its numbers', 3);
  return out;
}

function mutationsAt(base: Base, site: Site): fc.Arbitrary<Mutation> {
  const at = (kind: string, value?: Json, key?: string): Mutation => {
    const m: Mutation = {
      base,
      site,
      kind,
      ...(value === undefined ? {} : { value }),
      ...(key === undefined ? {} : { key }),
    };
    // a counterexample reads as the mutation, not as the whole base config and its schema
    return Object.assign(m, { [fc.toStringMethod]: () => describeMutation(m) });
  };
  const choices: fc.Arbitrary<Mutation>[] = [];
  const types = site.path.length === 0 ? undefined : jsonTypes(site.node);
  if (types) {
    const wrong = WRONG_TYPED.filter((v) => !types.has(jsonType(v)));
    choices.push(fc.constantFrom(...wrong).map((v) => at('a value of another type', v)));
  }
  if (site.path.length > 0) {
    for (const b of constraintBreakers(site.branch)) choices.push(b.map(({ kind, value }) => at(kind, value)));
    choices.push(fc.jsonValue({ maxDepth: 2 }).map((v) => at('any JSON value', v as Json)));
  }
  if (site.present && typeof site.path.at(-1) === 'string') choices.push(fc.constant(at('deleted')));
  const props = site.branch.properties;
  if (site.present && props && site.branch.additionalProperties === false) {
    const names = Object.keys(props);
    const nearMiss = names.flatMap((k) => [
      k.slice(0, -1),
      k.toLowerCase(),
      `${k}s`,
      `${k[0]!.toUpperCase()}${k.slice(1)}`,
    ]);
    const key = fc
      .oneof(fc.constantFrom(...nearMiss, '__proto__', 'constructor', 'toString', ''), fc.string({ maxLength: 12 }))
      .filter((k) => !names.includes(k));
    choices.push(fc.tuple(key, fc.jsonValue({ maxDepth: 1 })).map(([k, v]) => at('an unknown key', v as Json, k)));
  }
  return fc.oneof(...choices);
}
const mutation: fc.Arbitrary<Mutation> = fc
  .constantFrom(...BASES)
  .chain((base) => fc.constantFrom(...base.sites).chain((site) => mutationsAt(base, site)));

function setOwn(o: object, k: Seg, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}
/** The base config with the mutation applied (a fresh copy). */
function apply(m: Mutation): Json {
  const copy = structuredClone(m.base.value);
  const at = (path: Seg[]): Record<Seg, unknown> =>
    path.reduce<Record<Seg, unknown>>((o, s) => o[s] as Record<Seg, unknown>, copy as Record<Seg, unknown>);
  const parent = at(m.site.path.slice(0, -1));
  const last = m.site.path.at(-1)!;
  if (m.key !== undefined) setOwn(at(m.site.path), m.key, m.value);
  else if (m.kind === 'deleted') Reflect.deleteProperty(parent, last);
  else setOwn(parent, last, m.value);
  return copy;
}
const describeMutation = (m: Mutation): string =>
  `${m.base.name}: ${[pathText(m.site.path), m.key].filter((x) => x !== undefined && x !== '').join('.')} ${m.kind}` +
  (m.kind === 'deleted' ? '' : ` (${JSON.stringify(m.value)})`);

/** The config error's problem lines, or `accepted`; anything else thrown fails the test (it is a crash). */
function outcome(raw: unknown): string[] | 'accepted' {
  try {
    parseAgentConfig(raw, 'config', dir);
    return 'accepted';
  } catch (err) {
    if (!isTbError(err, TbCodes.CONFIG)) throw err;
    const problems = err.details?.problems as string[] | undefined;
    expect(problems, err.message).toEqual(expect.any(Array));
    expect(err.message).toBe(`config is not valid:\n  ${problems!.join('\n  ')}`);
    return problems!;
  }
}

/** Whether the JSON Schema's verdict on this mutation is the parser's too (false: a rule it cannot see may apply). */
function verdictKnown(m: Mutation, accepted: boolean): boolean {
  if (!accepted) return true;
  const p = pattern(m.site.path);
  if (crossKeyPaths.some((c) => related(c, p))) return false;
  return m.kind === 'deleted' || m.key !== undefined || !m.site.refined;
}

/**
 * Each problem is about the mutated key: its path (or one below it; the object above it for an unknown key or a
 * union's `type`), then what was expected. A cross-key rule that reads the key may speak too, naming its own key
 * (a reconnectBaseMs above its maximum is also above reconnectCapMs); at least one problem names the key itself.
 */
function expectAboutTheKey(m: Mutation, problems: string[]): void {
  const p = pathText(m.site.path) || '(top level)';
  const parent = pathText(m.site.path.slice(0, -1)) || '(top level)';
  const discriminator = m.site.path.at(-1) === 'type' && branches(m.site.node).length === 0;
  const group = Object.values(CROSS_KEY)
    .filter((keys) => keys.some((c) => related(c, pattern(m.site.path))))
    .flat();
  let aboutTheKey = 0;
  for (const line of problems) {
    if (m.key !== undefined) {
      expect(line).toBe(`${p}: unknown key "${m.key}" (remove or fix the spelling)`);
      aboutTheKey++;
      continue;
    }
    const at = line.slice(0, line.indexOf(': '));
    const own = at === p || under(at, p) || (discriminator && at === parent);
    if (own) aboutTheKey++;
    const sameRule = group.some((c) => related(c, at.replace(/\[\d+\]/g, '[*]')));
    expect(own || sameRule, `"${line}" does not name ${p}`).toBe(true);
    expect(line.slice(at.length)).toMatch(/^: (expected \S|unknown keys? ")/);
  }
  expect(aboutTheKey, `no problem names ${p}: ${problems.join(' | ')}`).toBeGreaterThan(0);
}

describe('the agent config: a bad key is named, with what was expected', () => {
  it('the base configs are valid, the full one reaches every key, the cross-key rules are all in the list', () => {
    for (const b of BASES) {
      expect(outcome(b.value), b.name).toBe('accepted');
      expect(schemaAccepts(b.value), b.name).toBe(true);
    }
    // every key path of the zod schema, and every object whose own schema has a rule that can read several keys
    const keys = new Set<string>();
    const owners = new Set<string>();
    const walk = (s: z.ZodType, path: Seg[]): void => {
      const { node, refined } = unwrap(s, undefined);
      if (path.length > 0) keys.add(pattern(path));
      if (node instanceof z.ZodObject) {
        if (refined) owners.add(pattern(path));
        for (const [k, child] of Object.entries(node.shape)) walk(child as z.ZodType, [...path, k]);
      } else if (node instanceof z.ZodArray) walk(node.element as z.ZodType, [...path, 0]);
      else if (node instanceof z.ZodUnion) for (const o of node.def.options as z.ZodType[]) walk(o, path);
    };
    walk(AgentConfigSchema, []);
    // the mutations reach every key through the JSON Schema: a key it cannot see into would go untested
    const reached = new Set(BASES[1]!.sites.map((site) => pattern(site.path)));
    expect([...keys].filter((k) => !reached.has(k))).toEqual([]);
    expect([...owners].sort()).toEqual(
      Object.keys(CROSS_KEY)
        .filter((k) => !k.includes(' '))
        .sort(),
    );
  });

  it('one mutation at one key: refused, naming that key and what was expected, when the schema refuses it', () => {
    fc.assert(
      fc.property(mutation, (m) => {
        const raw = apply(m);
        const accepted = schemaAccepts(raw);
        const got = outcome(raw);
        if (!verdictKnown(m, accepted)) {
          // a rule the JSON Schema cannot see: either way, a config error in the usual form
          if (got !== 'accepted') for (const line of got) expect(line, describeMutation(m)).toMatch(/^\S+: \S/);
          return;
        }
        if (accepted) {
          expect(got, `${describeMutation(m)}: the schema accepts it`).toBe('accepted');
          return;
        }
        expect(got, `${describeMutation(m)}: the schema refuses it`).not.toBe('accepted');
        expect((got as string[]).length).toBeGreaterThan(0);
        expectAboutTheKey(m, got as string[]);
      }),
      { numRuns: RUNS },
    );
  });

  it('a config the parser accepts is one the schema accepts (nothing invalid is taken silently)', () => {
    fc.assert(
      fc.property(mutation, (m) => {
        const raw = apply(m);
        if (outcome(raw) === 'accepted') expect(schemaAccepts(raw), describeMutation(m)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('the agent config file: whatever it holds, a config error or a config', () => {
  const shippedText = readFileSync(join(ROOT, 'installers/agent.json.example'), 'utf8');
  const spliced = fc
    .tuple(fc.nat(), fc.nat({ max: 12 }), fc.string({ unit: 'binary', maxLength: 6 }))
    .map(([at, drop, insert]) => {
      const i = at % (shippedText.length + 1);
      return shippedText.slice(0, i) + insert + shippedText.slice(i + drop);
    });
  const fileContents = fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    spliced,
    mutation.map((m) => JSON.stringify(apply(m))),
  );
  let n = 0;

  it('never anything but TB_CONFIG, naming the file, when it is not a valid config', () => {
    fc.assert(
      fc.property(fileContents, (contents) => {
        const file = join(dir, `any-${++n}.json`);
        writeFileSync(file, contents);
        try {
          loadAgentConfig(file);
        } catch (err) {
          if (!isTbError(err, TbCodes.CONFIG)) throw err;
          expect(err.message).toMatch(
            new RegExp(`^(config file ${file} is not valid|cannot read config file ${file})`),
          );
        } finally {
          rmSync(file);
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe('tillbridge-agent with a mutated config file', () => {
  const refused = mutation.filter((m) => !schemaAccepts(apply(m)));
  let n = 0;

  it('check-config and run exit 2, naming the key on stderr (two mutations, through the real binary)', async () => {
    await fc.assert(
      fc.asyncProperty(refused, fc.constantFrom('check-config', 'run'), async (m, command) => {
        const file = join(dir, `agent-${++n}.json`);
        writeFileSync(file, JSON.stringify(apply(m), null, 2));
        const r = await runCommand(process.execPath, [AGENT_BIN, command, '--config', file], { TILLBRIDGE_CONFIG: '' });
        expect(r.code, `${describeMutation(m)}: ${r.stderr}`).toBe(2);
        // the problems the parser gives in process, each about the key (as above), are what the process says
        const problems = outcome(apply(m)) as string[];
        expectAboutTheKey(m, problems);
        expect(r.stderr).toBe(`error: config file ${file} is not valid:\n  ${problems.join('\n  ')}\n`);
      }),
      { numRuns: 2, seed: 20_261_203 },
    );
  });
});
