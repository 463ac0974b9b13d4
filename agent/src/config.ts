import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { describeZodError, parseHostPort, TbCodes, TbError } from '@tillbridge/shared';

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

export const TransportConfig = z.discriminatedUnion('type', [TcpServerTransport]);
export type TransportConfig = z.infer<typeof TransportConfig>;

export const LineFraming = z.strictObject({
  type: z.literal('line'),
  /** The terminator as a string; "\n" (default) or "\r\n". */
  terminator: z.string().min(1).max(4).default('\n'),
  maxFrameBytes: z.number().int().min(16).max(1_048_576).default(65_536),
  /** Bytes of a partial frame older than this are discarded (0: never). */
  interByteTimeoutMs: z.number().int().min(0).max(600_000).default(0),
});

export const FramingConfig = z.discriminatedUnion('type', [LineFraming]);
export type FramingConfig = z.infer<typeof FramingConfig>;

export const RegisterConfig = z.strictObject({
  id: Id,
  transport: TransportConfig,
  codec: z.enum(['jsonl']).default('jsonl'),
  framing: FramingConfig.optional(),
});
export type RegisterConfig = z.infer<typeof RegisterConfig>;

export const AgentConfigSchema = z
  .strictObject({
    store: Id,
    dataDir: z.string().min(1, 'a directory path'),
    hub: z.strictObject({
      url: z.string().regex(/^wss?:\/\/[^/]+/, 'a ws:// or wss:// URL of the hub, e.g. ws://127.0.0.1:7400'),
      apiKey: z.string().min(8, 'the store API key printed by `tillbridge-hub stores add`'),
      authorizationDeadlineMs: z.number().int().min(50).max(30_000).default(1500),
      heartbeatMs: z.number().int().min(1000).max(300_000).default(15_000),
      reconnectBaseMs: z.number().int().min(10).max(60_000).default(500),
      reconnectCapMs: z.number().int().min(100).max(600_000).default(30_000),
      uploadBatchMax: z.number().int().min(1).max(1000).default(500),
    }),
    registers: z.array(RegisterConfig).min(1, 'at least one register'),
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
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .default({ level: 'info' }),
  })
  .superRefine((cfg, ctx) => {
    const seen = new Map<string, number>();
    cfg.registers.forEach((r, i) => {
      if (seen.has(r.id)) {
        ctx.addIssue({ code: 'custom', path: ['registers', i, 'id'], message: `a unique register id ("${r.id}" is also registers[${seen.get(r.id)}])` });
      }
      seen.set(r.id, i);
    });
    const ports = new Map<string, number>();
    cfg.registers.forEach((r, i) => {
      const t = r.transport;
      if (t.type === 'tcp-server' && t.port !== 0) {
        const key = `${t.host}:${t.port}`;
        if (ports.has(key)) {
          ctx.addIssue({ code: 'custom', path: ['registers', i, 'transport', 'port'], message: `a port no other register uses (${key} is also registers[${ports.get(key)}])` });
        }
        ports.set(key, i);
      }
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

/** Validates a parsed config object; throws TB_CONFIG with one line per problem. */
export function parseAgentConfig(raw: unknown, source = 'config'): Readonly<AgentConfig> {
  const r = AgentConfigSchema.safeParse(raw, { reportInput: true });
  if (!r.success) {
    const lines = describeZodError(r.error);
    throw new TbError(TbCodes.CONFIG, `${source} is not valid:\n  ${lines.join('\n  ')}`, { details: { problems: lines } });
  }
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
    throw new TbError(TbCodes.CONFIG, `config file ${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return parseAgentConfig(raw, `config file ${file}`);
}
