import { existsSync, readFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { dirname, resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import type { Command } from 'commander';
import {
  ENROLL_PATH,
  EnrollAnswer,
  ensurePrivateDir,
  isTbError,
  parseUrl,
  TbCodes,
  TbError,
  urlHostIsLoopback,
  writePrivateFile,
} from '@tillbridge/shared';
import { parseAgentConfig } from '../config.js';
import { normalizeFingerprint, peerCertificate, PinnedAgent } from '../sync/pinning.js';
import { hubRefusalCode } from '../sync/token-client.js';
import { postJson } from '../sync/post-json.js';

/**
 * The register an enrolled config gets when it had none: a JSONL register on this machine's port 7410, to be edited.
 */
export const PLACEHOLDER_REGISTER = {
  id: 'R1',
  transport: { type: 'tcp-server', host: '127.0.0.1', port: 7410 },
  codec: 'jsonl',
} as const;

export function defaultDataDir(): string {
  return process.platform === 'win32'
    ? `${process.env.ProgramData ?? 'C:\\ProgramData'}\\Tillbridge\\data`
    : '/var/lib/tillbridge';
}

export interface EnrollOptions {
  hub: string;
  code: string;
  config: string;
  dataDir?: string;
  fingerprint?: string;
  caFile?: string;
  insecure?: boolean;
  force?: boolean;
}

export interface EnrollResult {
  config: string;
  store: string;
  hubUrl: string;
  /** the certificate the hub showed (https only) */
  fingerprint: string | null;
  /** whether the config pins it (hub.fingerprint): trusted because it matched --fingerprint */
  pinned: boolean;
  /** registers kept from the config that was there */
  registersKept: number;
  /** a placeholder register was written (edit it) */
  placeholderRegister: boolean;
  warnings: string[];
}

/** `http(s)://` or `ws(s)://` → the base URL the enrollment request goes to, and the agent's ws(s):// URL. */
export function hubUrls(raw: string): { http: string; ws: string; secure: boolean } {
  const u = parseUrl(raw);
  if (!u)
    throw new TbError(
      TbCodes.INVALID,
      `--hub: expected the hub's URL, e.g. https://hub.example.com:7400, got "${raw}"`,
    );
  const secure = u.protocol === 'https:' || u.protocol === 'wss:';
  if (!secure && u.protocol !== 'http:' && u.protocol !== 'ws:')
    throw new TbError(TbCodes.INVALID, `--hub: expected an https://, http://, wss:// or ws:// URL, got "${raw}"`);
  const host = u.host;
  return { http: `${secure ? 'https' : 'http'}://${host}`, ws: `${secure ? 'wss' : 'ws'}://${host}`, secure };
}

/** An HTTPS agent that notes the fingerprint of the certificate each connection was shown. */
class ObservingAgent extends HttpsAgent {
  seen: string | undefined;
  constructor() {
    super({ maxCachedSessions: 0 });
  }
  override createConnection(options: Record<string, unknown>, cb?: (err: Error | null, s: Duplex) => void): Duplex {
    const socket = (
      HttpsAgent.prototype as unknown as { createConnection(o: unknown, cb?: unknown): TLSSocket }
    ).createConnection.call(this, options, cb);
    socket.once('secureConnect', () => {
      this.seen = peerCertificate(socket)?.fingerprint256;
    });
    return socket;
  }
}

/** The fingerprint of the certificate `base` (https) shows; nothing is sent but the TLS handshake. */
export function probeFingerprint(base: string): Promise<string> {
  const u = new URL(base);
  return new Promise((ok, fail) => {
    const s = tlsConnect({
      host: u.hostname.replace(/^\[|\]$/g, ''),
      port: Number(u.port || 443),
      rejectUnauthorized: false,
      ...(/^[\d.]+$|:/.test(u.hostname) ? {} : { servername: u.hostname }),
    });
    s.setTimeout(5000, () => s.destroy(new Error('no TLS handshake within 5 s')));
    s.once('secureConnect', () => {
      const fp = peerCertificate(s)?.fingerprint256;
      s.destroy();
      if (fp) ok(fp);
      else fail(new Error('the hub showed no certificate'));
    });
    s.once('error', fail);
  });
}

const UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'HOSTNAME_MISMATCH',
]);

/** The existing config file's JSON object, or undefined when there is none. */
function readExisting(file: string): Record<string, unknown> | undefined {
  if (!existsSync(file)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new TbError(
      TbCodes.CONFIG,
      `${file} exists but is not a JSON config (${(err as Error).message}): move it away, or fix it, ` +
        'before enrolling with --force',
    );
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new TbError(TbCodes.CONFIG, `${file} exists but does not hold a JSON object: move it away before enrolling`);
  return raw as Record<string, unknown>;
}

/**
 * Trades a one-time enrollment code for the store's API key and writes the agent's config (0600).
 *
 * Trust in an https:// hub, before the code is sent: `fingerprint` (the one `tillbridge-hub stores
 * enroll` printed) pins the hub's certificate, which is then written to the config
 * (hub.fingerprint); without it the certificate must be trusted by this machine (system CAs, or
 * `caFile`). A certificate that is neither fails before the code is sent (so the code still
 * works), naming its fingerprint to compare and pass as --fingerprint.
 */
export async function enroll(o: EnrollOptions): Promise<EnrollResult> {
  const file = resolve(o.config);
  const urls = hubUrls(o.hub);
  const { code, pin, existing, ca } = checkEnrollOptions(o, file, urls);
  const { answer, seen } = await sendCode(urls, code, pin, ca);
  const res = enrollAnswer(answer);
  const warnings: string[] = [];
  if (seen && res.fingerprint && normalizeFingerprint(res.fingerprint) !== seen) {
    warnings.push(
      `the hub says its certificate's fingerprint is ${res.fingerprint}, but this machine was shown ` +
        `${seen}: something in between (a load balancer or proxy) holds another certificate`,
    );
  }

  const { config, registersKept } = enrolledConfig(o, { file, urls, pin, existing }, res);
  ensurePrivateDir(dirname(file));
  writePrivateFile(file, `${JSON.stringify(config, null, 2)}\n`);
  return {
    config: file,
    store: res.store,
    hubUrl: urls.ws,
    fingerprint: seen,
    pinned: pin !== undefined,
    registersKept,
    placeholderRegister: registersKept === 0,
    warnings,
  };
}

type HubUrls = ReturnType<typeof hubUrls>;

/** The options, checked before anything is sent: the code, the pin, the config file there already, the CA. */
function checkEnrollOptions(
  o: EnrollOptions,
  file: string,
  urls: HubUrls,
): { code: string; pin: string | undefined; existing: Record<string, unknown> | undefined; ca: Buffer | undefined } {
  const code = o.code.trim();
  if (code === '')
    throw new TbError(TbCodes.INVALID, '--code: expected the code `tillbridge-hub stores enroll` printed');
  let pin: string | undefined;
  if (o.fingerprint !== undefined) {
    pin = normalizeFingerprint(o.fingerprint);
    if (!pin)
      throw new TbError(
        TbCodes.INVALID,
        `--fingerprint: expected the SHA-256 fingerprint \`tillbridge-hub stores enroll\` printed (64 ` +
          `hex digits, colons optional), got "${o.fingerprint}"`,
      );
    if (!urls.secure) throw new TbError(TbCodes.INVALID, '--fingerprint: only for an https:// (wss://) hub');
  }
  if (!urls.secure && !urlHostIsLoopback(urls.ws) && !o.insecure) {
    throw new TbError(
      TbCodes.INVALID,
      `--hub: ${o.hub} is plain http to another machine: the API key would cross the network ` +
        `unencrypted. Use the hub's https:// URL (or --insecure to accept that)`,
    );
  }
  const existing = readExisting(file);
  if (existing && !o.force)
    throw new TbError(
      TbCodes.CONFLICT,
      `${file} already exists: pass --force to replace its store, hub and API key (its registers and ` +
        'other settings are kept)',
    );
  let ca: Buffer | undefined;
  if (o.caFile !== undefined) {
    try {
      ca = readFileSync(o.caFile);
    } catch (err) {
      throw new TbError(TbCodes.INVALID, `--ca-file: cannot read ${o.caFile}: ${(err as Error).message}`);
    }
  }
  return { code, pin, existing, ca };
}

/** Sends the enrollment code; what the hub answered, and the certificate fingerprint it was reached through. */
async function sendCode(
  urls: HubUrls,
  code: string,
  pin: string | undefined,
  ca: Buffer | undefined,
): Promise<{ answer: { statusCode: number; body: string }; seen: string | null }> {
  const agent = pin ? new PinnedAgent(pin) : new ObservingAgent();
  let answer: { statusCode: number; body: string };
  try {
    answer = await postJson(
      `${urls.http}${ENROLL_PATH}`,
      { code },
      { timeoutMs: 10_000, ...(urls.secure ? { agent, ...(ca ? { ca } : {}) } : {}) },
    );
  } catch (err) {
    const e = err as Error & { code?: string; cause?: unknown };
    const cause = (e.cause ?? e) as Error & { code?: string };
    if (isTbError(cause, TbCodes.TLS))
      throw new TbError(
        TbCodes.TLS,
        `${cause.message}. Nothing was sent: check --fingerprint against what \`tillbridge-hub stores enroll\` printed`,
      );
    const tlsCode = cause.code ?? e.code;
    if (urls.secure && tlsCode && UNTRUSTED.has(tlsCode)) {
      let fp = '(could not be read)';
      try {
        fp = await probeFingerprint(urls.http);
      } catch {
        // said as it is
      }
      throw new TbError(
        TbCodes.TLS,
        `the hub's certificate is not trusted by this machine (${tlsCode}); nothing was sent and the ` +
          'code still works.\n' +
          `Its SHA-256 fingerprint is ${fp}. If it is the one \`tillbridge-hub stores enroll\` printed, ` +
          `run again with --fingerprint ${fp}` +
          " (or give the hub's CA with --ca-file)",
        { details: { fingerprint: fp } },
      );
    }
    throw new TbError(TbCodes.HUB_UNAVAILABLE, `cannot reach the hub at ${urls.http}: ${e.message}`, { cause: err });
  } finally {
    agent.destroy();
  }
  const seen = agent instanceof ObservingAgent ? agent.seen : pin;
  return { answer, seen: urls.secure ? (seen ?? null) : null };
}

/** The hub's answer: the store and its API key, or an error saying why it refused. */
function enrollAnswer(answer: { statusCode: number; body: string }): EnrollAnswer {
  let body: unknown;
  try {
    body = JSON.parse(answer.body);
  } catch {
    body = undefined;
  }
  const ok = answer.statusCode === 200 ? EnrollAnswer.safeParse(body) : undefined;
  if (ok?.success) return ok.data;
  const said = (body as { message?: unknown } | undefined)?.message;
  const why = typeof said === 'string' ? said : `HTTP ${answer.statusCode}`;
  const hint =
    answer.statusCode === 401 ? ' (ask the hub operator for a new one: tillbridge-hub stores enroll <store>)' : '';
  throw new TbError(hubRefusalCode(answer.statusCode), `the hub refused the code: ${why}${hint}`);
}

/** The config to write: what was there kept (registers, scanners, settings), the store, hub and key replaced. */
function enrolledConfig(
  o: EnrollOptions,
  at: { file: string; urls: HubUrls; pin: string | undefined; existing: Record<string, unknown> | undefined },
  res: EnrollAnswer,
): { config: Record<string, unknown>; registersKept: number } {
  const { file, urls, pin, existing } = at;
  const base = existing ?? {};
  const hubOld = (base.hub && typeof base.hub === 'object' ? base.hub : {}) as Record<string, unknown>;
  const { url: _u, urls: oldUrls, apiKey: _k, fingerprint: _f, insecure: _i, ...hubKept } = hubOld;
  const keepList = Array.isArray(oldUrls) && oldUrls.includes(urls.ws);
  const hub: Record<string, unknown> = {
    ...(keepList ? { urls: oldUrls } : { url: urls.ws }),
    apiKey: res.apiKey,
    ...hubKept,
  };
  if (pin) hub.fingerprint = pin;
  // what it was trusted through, from now on too
  else if (urls.secure && o.caFile !== undefined) hub.caFile = resolve(o.caFile);
  if (!urls.secure && !urlHostIsLoopback(urls.ws)) hub.insecure = true;
  const registers = Array.isArray(base.registers) ? base.registers : [];
  const placeholder = registers.length === 0;
  const dataDir =
    o.dataDir !== undefined ? resolve(o.dataDir) : typeof base.dataDir === 'string' ? base.dataDir : defaultDataDir();
  const config = {
    ...base,
    store: res.store,
    dataDir,
    hub,
    registers: placeholder ? [PLACEHOLDER_REGISTER] : registers,
  };
  // what `run` and `check-config` will read: refused here rather than written broken
  try {
    parseAgentConfig(config, file, dirname(file));
  } catch (err) {
    if (!isTbError(err, TbCodes.CONFIG)) throw err;
    throw new TbError(
      TbCodes.CONFIG,
      `the config to write would not be valid (the store's key was issued: fix the existing file and ask ` +
        `the hub operator for a new code):\n${err.message}`,
    );
  }
  return { config, registersKept: placeholder ? 0 : registers.length };
}

export function formatEnrollResult(r: EnrollResult): string {
  const lines = [
    `enrolled: store ${r.store}, hub ${r.hubUrl}`,
    `config written: ${r.config} (0600; it holds the store's API key)`,
  ];
  if (r.fingerprint)
    lines.push(
      'hub certificate SHA-256 fingerprint: ' +
        `${r.fingerprint}${r.pinned ? ' (pinned: hub.fingerprint)' : ' (trusted through its CA, not pinned)'}`,
    );
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  lines.push('', 'next:');
  if (r.placeholderRegister)
    lines.push(
      '  - the config has one placeholder register (R1, JSONL on ' +
        `127.0.0.1:${PLACEHOLDER_REGISTER.transport.port}): edit "registers" for this store's registers ` +
        '(docs/configuration.md)',
    );
  else lines.push(`  - ${r.registersKept} register(s) kept from the config that was there`);
  lines.push(`  - check it: tillbridge-agent check-config --config ${r.config}`);
  lines.push(
    process.platform === 'win32'
      ? '  - start (or restart) the Tillbridge agent service'
      : '  - start (or restart) the agent: systemctl restart tillbridge-agent (or: tillbridge-agent run --config ' +
          r.config +
          ')',
  );
  return lines.join('\n');
}

/** `tillbridge-agent enroll`. */
export function enrollCommand(program: Command, exit: { USAGE: number; FAILURE: number }): void {
  program
    .command('enroll')
    .description(
      "set this store's agent up from a one-time code (`tillbridge-hub stores enroll`): fetches the " +
        "store's API key and writes the config file (0600)",
    )
    .requiredOption('--hub <url>', "the hub's URL, e.g. https://hub.example.com:7400")
    .requiredOption('--code <code>', 'the one-time code (dashes and case do not matter)')
    .option('-c, --config <file>', 'the config file to write; default: $TILLBRIDGE_CONFIG')
    .option('--data-dir <dir>', `the agent's data directory (default: the existing config's, else ${defaultDataDir()})`)
    .option(
      '--fingerprint <sha256>',
      "the hub certificate's fingerprint `stores enroll` printed: trusted (and pinned in the config) instead of a CA",
    )
    .option(
      '--ca-file <file>',
      "the hub's CA certificate (PEM), for a hub with a private CA (written to the config as hub.caFile)",
    )
    .option('--insecure', 'allow plain http:// to a hub on another machine')
    .option('--force', 'replace an existing config file (its registers and other settings are kept)')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nExit code: 0 enrolled; 2 bad usage or an existing config without --force; 1 the hub refused the ' +
        'code or could not be reached or trusted.\n\nExample:\n  tillbridge-agent enroll --hub ' +
        'https://hub.example.com:7400 --code 7KQ2-M9XD-4HTR-Z1WB --fingerprint AB:CD:… --config ' +
        '/etc/tillbridge/agent.json',
    )
    .action(
      async (opts: {
        hub: string;
        code: string;
        config?: string;
        dataDir?: string;
        fingerprint?: string;
        caFile?: string;
        insecure?: boolean;
        force?: boolean;
        json?: boolean;
      }) => {
        const config = opts.config ?? process.env.TILLBRIDGE_CONFIG;
        if (!config) {
          process.stderr.write('error: no config file: pass --config FILE or set TILLBRIDGE_CONFIG\n');
          process.exit(exit.USAGE);
        }
        try {
          const r = await enroll({ ...opts, config });
          process.stdout.write(opts.json ? `${JSON.stringify(r, null, 2)}\n` : `${formatEnrollResult(r)}\n`);
        } catch (err) {
          process.stderr.write(`error: ${(err as Error).message}\n`);
          const usage =
            isTbError(err) &&
            (err.code === TbCodes.INVALID || err.code === TbCodes.CONFIG || err.code === TbCodes.CONFLICT);
          process.exit(usage ? exit.USAGE : exit.FAILURE);
        }
      },
    );
}
