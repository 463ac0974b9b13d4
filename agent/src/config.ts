import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import * as z from 'zod';
import { describeZodError, LOG_LEVELS, parseHostPort, TbCodes, TbError, urlHostIsLoopback } from '@tillbridge/shared';
import { FramingSchema, type FramingConfig } from './gateway/framing/schemas.js';
import { SerialTransportSchema, TcpClientTransportSchema } from './gateway/transports/schemas.js';
import { HttpTransportSchema } from './gateway/transports/http-schemas.js';
import { HidScannerSchema, HidTransportSchema } from './gateway/transports/hid-schemas.js';
import { PoslogCodecConfigSchema } from './gateway/codecs/poslog/config.js';
import { loadProfile } from './gateway/codecs/records/load.js';
import { normalizeFingerprint } from './sync/pinning.js';

/**
 * The agent's whole configuration: one JSON file, validated once at start, then frozen.
 * Every key is documented in docs/configuration.md.
 */

const Id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'an id of 1-64 letters, digits, ".", "_" or "-"');
const Port = z.number().int('an integer port').min(0, 'a port from 0 to 65535').max(65535, 'a port from 0 to 65535');
const HostPort = z.string().refine((v) => {
  try {
    parseHostPort(v);
    return true;
  } catch {
    return false;
  }
}, 'HOST:PORT, e.g. 127.0.0.1:7409');

export const TcpServerTransport = z.strictObject({
  type: z.literal('tcp-server'),
  host: z.string().min(1).default('127.0.0.1'),
  port: Port,
  /** Most connections this register may hold at once. */
  maxConnections: z.number().int().min(1).max(64).default(4),
});

export const TransportConfig = z.discriminatedUnion(
  'type',
  [TcpServerTransport, TcpClientTransportSchema, SerialTransportSchema, HttpTransportSchema, HidTransportSchema],
  { error: 'a transport type: "tcp-server", "tcp-client", "serial", "http" or "hid"' },
);
export type TransportConfig = z.infer<typeof TransportConfig>;

export { FramingSchema as FramingConfigSchema };
export type { FramingConfig };

const JsonlCodecConfig = z.strictObject({ type: z.literal('jsonl') });
const ProfilePath = z.string().min(1, 'the path of a record profile JSON file (docs/legacy-profiles.md)');
const DelimitedCodecConfig = z.strictObject({ type: z.literal('delimited'), profile: ProfilePath });
const FixedCodecConfig = z.strictObject({ type: z.literal('fixed'), profile: ProfilePath });

/** `"jsonl"`, or an object naming the codec and its settings. */
export const CodecConfig = z.union(
  [
    z.literal('jsonl').transform(() => ({ type: 'jsonl' as const })),
    z.discriminatedUnion('type', [JsonlCodecConfig, PoslogCodecConfigSchema, DelimitedCodecConfig, FixedCodecConfig], {
      error: 'a codec: "jsonl", or {"type":"poslog"|"delimited"|"fixed", …}',
    }),
  ],
  { error: 'a codec: "jsonl", or {"type":"poslog"|"delimited"|"fixed", …}' },
);
export type CodecConfig = z.infer<typeof CodecConfig>;

export const RegisterConfig = z.strictObject({
  id: Id,
  transport: TransportConfig,
  codec: CodecConfig.default({ type: 'jsonl' }),
  /** Default: `message` for http, length-prefixed (4 bytes, 1 MiB) for poslog on a stream, else `line`. */
  framing: FramingSchema.optional(),
});
export type RegisterConfig = z.infer<typeof RegisterConfig>;

/** The framing a register gets when its config names none (the gateway's rule). */
export { defaultFraming } from './gateway/factory.js';

const HubUrl = z.string().regex(/^wss?:\/\/[^/]+/, 'a ws:// or wss:// URL of the hub, e.g. ws://127.0.0.1:7400');
const PLAIN_WS_REFUSED =
  'a wss:// URL for a hub that is not on this machine (or set hub.insecure: true to allow plain ws://)';

export const AgentConfigSchema = z
  .strictObject({
    store: Id,
    dataDir: z.string().min(1, 'a directory path'),
    hub: z
      .strictObject({
        /** One hub URL (a single hub, or a load balancer in front of several): this or `urls`. */
        url: HubUrl.optional(),
        /** Several hub URLs, tried in turn: on a failed or lost connection the agent moves to the next. */
        urls: z.array(HubUrl).min(1, 'a list of 1 to 8 hub URLs').max(8, 'a list of 1 to 8 hub URLs').optional(),
        apiKey: z.string().min(8, 'the store API key printed by `tillbridge-hub stores add`'),
        authorizationDeadlineMs: z.number().int().min(50).max(30_000).default(1500),
        heartbeatMs: z.number().int().min(1000).max(300_000).default(15_000),
        reconnectBaseMs: z.number().int().min(10).max(60_000).default(500),
        reconnectCapMs: z.number().int().min(100).max(600_000).default(30_000),
        uploadBatchMax: z.number().int().min(1).max(1000).default(500),
        /** The hub's CA certificate (PEM) for wss:// (default: the system's trusted CAs). */
        caFile: z.string().min(1).optional(),
        /**
         * The SHA-256 fingerprint of the hub's certificate (AB:CD:… as `tillbridge-hub stores enroll`
         * prints it): when set, the only certificate accepted for wss:// — no CA, no host name check.
         */
        fingerprint: z
          .string()
          .refine(
            (v) => normalizeFingerprint(v) !== undefined,
            "the SHA-256 fingerprint of the hub's certificate: 64 hex digits, colons optional (AB:CD:…)",
          )
          .transform((v) => normalizeFingerprint(v) ?? v)
          .optional(),
        /** This store's client certificate and key (PEM), for a hub that asks for mutual TLS. */
        certFile: z.string().min(1).optional(),
        keyFile: z.string().min(1).optional(),
        /** Allow ws:// to a hub that is not on this machine (logs a warning at every start). */
        insecure: z.boolean().default(false),
        /** When to fetch the next access token, as a share of the current one's life. */
        tokenRefreshAt: z
          .number()
          .min(0.1, 'a share of the token lifetime from 0.1')
          .max(2, 'a share of the token lifetime up to 2')
          .default(0.8),
      })
      .superRefine((hub, ctx) => {
        if (hub.url === undefined && hub.urls === undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['url'],
            message: "the hub's URL (hub.url), or a list of them (hub.urls) (missing)",
          });
        if (hub.url !== undefined && hub.urls !== undefined)
          ctx.addIssue({ code: 'custom', path: ['urls'], message: 'hub.url or hub.urls, not both' });
        // judged on the host the WebSocket client will connect to (the URL parser's), not on how the URL starts
        const plainRefused = (u: string): boolean => u.startsWith('ws://') && !urlHostIsLoopback(u) && !hub.insecure;
        if (hub.url !== undefined && plainRefused(hub.url))
          ctx.addIssue({ code: 'custom', path: ['url'], message: PLAIN_WS_REFUSED });
        if (
          hub.fingerprint !== undefined &&
          [...(hub.urls ?? []), ...(hub.url === undefined ? [] : [hub.url])].some((u) => u.startsWith('ws://'))
        ) {
          ctx.addIssue({
            code: 'custom',
            path: ['fingerprint'],
            message: 'wss:// hub URLs only with a fingerprint (it pins a TLS certificate; ws:// has none)',
          });
        }
        hub.urls?.forEach((u, i, urls) => {
          const first = urls.indexOf(u);
          if (first < i)
            ctx.addIssue({
              code: 'custom',
              path: ['urls', i],
              message: `a URL not already in the list (it is also hub.urls[${first}])`,
            });
          else if (plainRefused(u)) ctx.addIssue({ code: 'custom', path: ['urls', i], message: PLAIN_WS_REFUSED });
        });
      })
      // every part of the agent reads `urls`: the one URL, or the list, in the order they are tried
      .transform(({ url, urls, ...rest }) => ({
        ...rest,
        ...(url === undefined ? {} : { url }),
        urls: urls ?? (url === undefined ? [] : [url]),
      })),
    registers: z.array(RegisterConfig).min(1, 'at least one register'),
    /** HID barcode scanners, each feeding one register (a scanned receipt is looked up and sent to it). */
    scanners: z.array(HidScannerSchema).max(64).default([]),
    offline: z
      .strictObject({
        /** Largest refund (minor units) the agent approves on its own while the hub is unreachable. */
        maxRefund: z.number().int().min(0).default(10_000),
      })
      .default({ maxRefund: 10_000 }),
    status: z
      .strictObject({
        /** Local status endpoint for `tillbridge-agent status`; port 0 picks a free one. */
        listen: HostPort.default('127.0.0.1:7409'),
      })
      .default({ listen: '127.0.0.1:7409' }),
    log: z
      .strictObject({
        /**
         * "trace": also every frame received from and sent to a register, card data masked (for integrating a
         * register).
         */
        level: z.enum(LOG_LEVELS, { error: `one of ${LOG_LEVELS.map((l) => `"${l}"`).join(', ')}` }).default('info'),
        /** Also write the logs to this file, rotated by size: for machines where nothing captures stdout. */
        file: z.string({ error: 'a file path' }).min(1, 'a file path').optional(),
        /** The size at which the log file is rotated (megabytes). */
        maxSizeMb: z
          .number({ error: 'a size in megabytes from 1 to 1024' })
          .min(1, 'a size in megabytes from 1 to 1024')
          .max(1024, 'a size in megabytes from 1 to 1024')
          .default(10),
        /** How many rotated files are kept (FILE.1 … FILE.N). */
        keep: z
          .number({ error: 'a whole number of files from 1 to 100' })
          .int('a whole number of files from 1 to 100')
          .min(1, 'a whole number of files from 1 to 100')
          .max(100, 'a whole number of files from 1 to 100')
          .default(5),
      })
      .default({ level: 'info', maxSizeMb: 10, keep: 5 }),
  })
  .superRefine((cfg, ctx) => {
    if (Boolean(cfg.hub.certFile) !== Boolean(cfg.hub.keyFile)) {
      ctx.addIssue({
        code: 'custom',
        path: ['hub', cfg.hub.certFile ? 'keyFile' : 'certFile'],
        message: 'both hub.certFile and hub.keyFile (a client certificate and its key)',
      });
    }
    const seen = new Map<string, number>();
    cfg.registers.forEach((r, i) => {
      if (seen.has(r.id)) {
        ctx.addIssue({
          code: 'custom',
          path: ['registers', i, 'id'],
          message: `a unique register id ("${r.id}" is also registers[${seen.get(r.id)}])`,
        });
      }
      seen.set(r.id, i);
    });
    // one listener per address: tcp-server registers each need their own port; http registers share one
    const listeners = new Map<string, { i: number; type: string }>();
    const devices = new Map<string, number>();
    cfg.registers.forEach((r, i) => {
      const t = r.transport;
      if ((t.type === 'tcp-server' || t.type === 'http') && t.port !== 0) {
        const key = `${t.host}:${t.port}`;
        const prior = listeners.get(key);
        if (prior && (prior.type === 'tcp-server' || t.type === 'tcp-server')) {
          ctx.addIssue({
            code: 'custom',
            path: ['registers', i, 'transport', 'port'],
            message: `a port no other register listens on (${key} is also registers[${prior.i}])`,
          });
        }
        if (!prior) listeners.set(key, { i, type: t.type });
      }
      if (t.type === 'serial') {
        if (devices.has(t.path))
          ctx.addIssue({
            code: 'custom',
            path: ['registers', i, 'transport', 'path'],
            message: `a serial port no other register uses (${t.path} is also registers[${devices.get(t.path)}])`,
          });
        devices.set(t.path, i);
      }
    });
    // the hub keeps a store's registers and scanners by id (terminal reports): one id, one device
    const scannerIds = new Map<string, number>();
    cfg.scanners.forEach((sc, i) => {
      if (!seen.has(sc.register))
        ctx.addIssue({
          code: 'custom',
          path: ['scanners', i, 'register'],
          message: `the id of a configured register (no register "${sc.register}")`,
        });
      const taken = seen.has(sc.id)
        ? `registers[${seen.get(sc.id)}]`
        : scannerIds.has(sc.id) && `scanners[${scannerIds.get(sc.id)}]`;
      if (taken)
        ctx.addIssue({
          code: 'custom',
          path: ['scanners', i, 'id'],
          message: `an id no register or other scanner has ("${sc.id}" is also ${taken})`,
        });
      scannerIds.set(sc.id, i);
    });
  });

export type AgentConfig = z.infer<typeof AgentConfigSchema>;

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/**
 * Validates a parsed config object, and the record profiles it names (relative paths are taken
 * from `baseDir`, the config file's directory); throws TB_CONFIG with one line per problem.
 */
export function parseAgentConfig(raw: unknown, source = 'config', baseDir = process.cwd()): Readonly<AgentConfig> {
  const r = AgentConfigSchema.safeParse(raw, { reportInput: true });
  const fail = (lines: string[]): never => {
    throw new TbError(TbCodes.CONFIG, `${source} is not valid:\n  ${lines.join('\n  ')}`, {
      details: { problems: lines },
    });
  };
  if (!r.success) return fail(describeZodError(r.error));
  const problems: string[] = [];
  if (r.data.log.file !== undefined) r.data.log.file = resolve(baseDir, r.data.log.file);
  for (const k of ['caFile', 'certFile', 'keyFile'] as const) {
    const f = r.data.hub[k];
    if (f === undefined) continue;
    r.data.hub[k] = resolve(baseDir, f);
    try {
      readFileSync(r.data.hub[k]);
    } catch (err) {
      problems.push(
        `hub.${k}: cannot read ${r.data.hub[k]} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      );
    }
  }
  r.data.registers.forEach((reg, i) => {
    const c = reg.codec;
    if (c.type !== 'delimited' && c.type !== 'fixed') return;
    c.profile = resolve(baseDir, c.profile);
    try {
      const profile = loadProfile(c.profile);
      if (profile.format !== c.type)
        problems.push(
          `registers[${i}].codec.profile: expected a ${c.type} profile, ${c.profile} describes ` +
            `${profile.format} records`,
        );
    } catch (err) {
      const inner = (err as TbError).details?.problems as string[] | undefined;
      if (inner) problems.push(...inner.map((p) => `registers[${i}].codec.profile (${c.profile}): ${p}`));
      else problems.push(`registers[${i}].codec.profile: ${(err as Error).message}`);
    }
  });
  if (problems.length > 0) return fail(problems);
  return deepFreeze(r.data);
}

export function loadAgentConfig(file: string): Readonly<AgentConfig> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TbError(TbCodes.CONFIG, `cannot read config file ${file}: ${(err as Error).message}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new TbError(TbCodes.CONFIG, `config file ${file} is not valid JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parseAgentConfig(raw, `config file ${file}`, dirname(resolve(file)));
}
