import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type PeerCertificate } from 'node:tls';
import type { DoctorFinding } from '@tillbridge/shared';
import { peerCertificate } from '../sync/pinning.js';
import type { AgentConfig } from '../config.js';

/** Certificates with fewer days left than this are a warning. */
export const CERT_WARN_DAYS = 30;
/**
 * A clock further from the hub's than this is a warning; past CLOCK_ERROR_MS an error (tokens and offline decisions go
 * wrong).
 */
export const CLOCK_WARN_MS = 30_000;
export const CLOCK_ERROR_MS = 5 * 60_000;

interface Target {
  url: string;
  host: string;
  port: number;
  tls: boolean;
}

function target(url: string): Target {
  const u = new URL(url);
  const tls = u.protocol === 'wss:';
  return { url, host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || (tls ? 443 : 80)), tls };
}

const code = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? (err as Error).message;

function tcpConnect(t: Target, timeoutMs: number): Promise<{ ok: true } | { ok: false; reason: string }> {
  return new Promise((done) => {
    const s = netConnect({ host: t.host, port: t.port });
    s.setTimeout(timeoutMs, () => {
      s.destroy();
      done({ ok: false, reason: `no answer within ${timeoutMs} ms` });
    });
    s.once('connect', () => {
      s.destroy();
      done({ ok: true });
    });
    s.once('error', (err) => done({ ok: false, reason: code(err) }));
  });
}

interface TlsResult {
  authorized: boolean;
  error?: string;
  cert?: PeerCertificate;
}

function tlsHandshake(t: Target, config: Readonly<AgentConfig>, timeoutMs: number): Promise<TlsResult> {
  return new Promise((done) => {
    const opts: ConnectionOptions = { host: t.host, port: t.port, rejectUnauthorized: false };
    if (!/^[\d.]+$|:/.test(t.host)) opts.servername = t.host;
    if (config.hub.caFile) opts.ca = readFileSync(config.hub.caFile);
    if (config.hub.certFile && config.hub.keyFile) {
      opts.cert = readFileSync(config.hub.certFile);
      opts.key = readFileSync(config.hub.keyFile);
    }
    const s = tlsConnect(opts);
    s.setTimeout(timeoutMs, () => {
      s.destroy();
      done({ authorized: false, error: `no TLS handshake within ${timeoutMs} ms` });
    });
    s.once('secureConnect', () => {
      const cert = peerCertificate(s);
      const r: TlsResult = { authorized: s.authorized };
      if (!s.authorized) r.error = String(s.authorizationError);
      if (cert && Object.keys(cert).length > 0) r.cert = cert;
      s.destroy();
      done(r);
    });
    s.once('error', (err) => done({ authorized: false, error: code(err) }));
  });
}

/** GET /healthz over the same scheme: the hub's software and time (its clock), and the Date header. */
function healthz(
  t: Target,
  config: Readonly<AgentConfig>,
  timeoutMs: number,
): Promise<{ status: number; body?: { software?: string; time?: string }; date?: string } | { error: string }> {
  return new Promise((done) => {
    const path = '/healthz';
    const onRes = (res: IncomingMessage): void => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (body.length < 100_000) body += d;
      });
      res.on('end', () => {
        let parsed: { software?: string; time?: string } | undefined;
        try {
          parsed = JSON.parse(body) as { software?: string; time?: string };
        } catch {
          parsed = undefined;
        }
        const out: { status: number; body?: { software?: string; time?: string }; date?: string } = {
          status: res.statusCode ?? 0,
        };
        if (parsed) out.body = parsed;
        if (typeof res.headers.date === 'string') out.date = res.headers.date;
        done(out);
      });
      res.on('error', (err) => done({ error: code(err) }));
    };
    const req = t.tls
      ? httpsRequest(
          {
            host: t.host,
            port: t.port,
            path,
            method: 'GET',
            rejectUnauthorized: false,
            ...(config.hub.caFile ? { ca: readFileSync(config.hub.caFile) } : {}),
          },
          onRes,
        )
      : httpRequest({ host: t.host, port: t.port, path, method: 'GET' }, onRes);
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => done({ error: code(err) }));
    req.end();
  });
}

const DAY = 86_400_000;

/**
 * The hub as this agent would reach it, for each configured URL: a TCP connection, the TLS
 * handshake (wss://: trusted by hub.caFile or the system's CAs, the certificate's days left), and
 * GET /healthz (a Tillbridge hub answers; its clock against this machine's, read from its `time`
 * field, else its Date header). `now`: this process's clock.
 */
export async function hubFindings(
  config: Readonly<AgentConfig>,
  now: () => number,
  timeoutMs = 5000,
): Promise<DoctorFinding[]> {
  const out: DoctorFinding[] = [];
  for (const url of config.hub.urls) {
    const t = target(url);
    const where = `${t.host}:${t.port}`;
    const tcp = await tcpConnect(t, timeoutMs);
    if (!tcp.ok) {
      out.push({
        id: 'hub.reachable',
        level: 'error',
        message: `the hub at ${url} cannot be reached: a TCP connection to ${where} failed (${tcp.reason})`,
        action:
          tcp.reason === 'ENOTFOUND' || tcp.reason === 'EAI_AGAIN'
            ? `the name ${t.host} does not resolve: check hub.url in the config and this machine's DNS settings`
            : `check that the hub is running (ask whoever runs it: \`tillbridge-hub doctor\` on its ` +
              'machine), that hub.url in the config is right, and that no firewall or proxy between this ' +
              `machine and ${where} blocks the connection. Sales keep being recorded and are sent when the ` +
              'hub is back.',
      });
      continue;
    }
    out.push({ id: 'hub.reachable', level: 'ok', message: `a TCP connection to ${where} (${url}) was made` });
    if (t.tls) {
      const tls = await tlsFindings(t, config, { timeoutMs, now });
      out.push(...tls.findings);
      if (tls.failed) continue;
    }
    const h = await healthz(t, config, timeoutMs);
    if ('error' in h) {
      out.push({
        id: 'hub.answers',
        level: 'error',
        message: `${where} accepts connections but did not answer GET /healthz (${h.error})`,
        action: `check that ${url} is the hub's address and not another program's`,
      });
      continue;
    }
    if (h.status !== 200 || !h.body?.software?.startsWith('tillbridge-hub')) {
      out.push({
        id: 'hub.answers',
        level: 'error',
        message: `${where} answered GET /healthz with HTTP ${h.status}, not as a Tillbridge hub`,
        action: `check hub.url: ${url} is another program, or a proxy that does not pass the hub through`,
      });
      continue;
    }
    out.push({ id: 'hub.answers', level: 'ok', message: `${url} is a Tillbridge hub (${h.body.software})` });
    const clock = clockFinding(h.body.time, h.date, now);
    if (clock) out.push(clock);
  }
  return out;
}

/** The TLS handshake and the certificate's days left; `failed` when there was no handshake at all. */
async function tlsFindings(
  t: ReturnType<typeof target>,
  config: Readonly<AgentConfig>,
  { timeoutMs, now }: { timeoutMs: number; now: () => number },
): Promise<{ findings: DoctorFinding[]; failed: boolean }> {
  const findings: DoctorFinding[] = [];
  const tls = await tlsHandshake(t, config, timeoutMs);
  if (!tls.cert && tls.error) {
    findings.push({
      id: 'hub.tls',
      level: 'error',
      message: `no TLS handshake with ${t.host}:${t.port}: ${tls.error}`,
      action:
        'check that the hub serves wss:// on this port (tillbridge-hub serve --tls-cert/--tls-key) and ' +
        'that nothing in between intercepts TLS',
    });
    return { findings, failed: true };
  }
  if (tls.authorized)
    findings.push({
      id: 'hub.tls',
      level: 'ok',
      message:
        `the hub's certificate for ${t.host} is ` +
        `trusted${config.hub.caFile ? ` (by ${config.hub.caFile})` : ' (by the system CAs)'}`,
    });
  else {
    findings.push({
      id: 'hub.tls',
      level: 'error',
      message: `the hub's certificate is not accepted: ${tls.error}`,
      action: (tls.error ?? '').includes('EXPIRED')
        ? "the hub's certificate has expired: the hub's operator must renew it (and restart the hub)"
        : /SELF_SIGNED|UNABLE_TO_GET_ISSUER|UNABLE_TO_VERIFY|LOCAL_ISSUER/.test(tls.error ?? '')
          ? "this machine does not trust who signed the hub's certificate: set hub.caFile in the config to " +
            "the hub's CA certificate (PEM), from the hub's operator"
          : /ERR_TLS_CERT_ALTNAME|Hostname|altnames/i.test(tls.error ?? '')
            ? `the certificate is not for the name ${t.host}: use the name the certificate was made for in ` +
              `hub.url, or have the hub's operator issue one for ${t.host}`
            : "ask the hub's operator to check its certificate (tillbridge-hub doctor)",
    });
  }
  if (tls.cert?.valid_to) findings.push(certificateFinding(tls.cert.valid_to, now));
  return { findings, failed: false };
}

/** How long the hub's certificate has left. */
function certificateFinding(validTo: string, now: () => number): DoctorFinding {
  const left = Math.floor((Date.parse(validTo) - now()) / DAY);
  const until = new Date(Date.parse(validTo)).toISOString();
  if (left < 0)
    return {
      id: 'hub.certificate',
      level: 'error',
      message: `the hub's certificate expired on ${until}`,
      action: "the hub's operator must renew the certificate and restart the hub; until then the agent cannot connect",
    };
  if (left < CERT_WARN_DAYS)
    return {
      id: 'hub.certificate',
      level: 'warning',
      message: `the hub's certificate expires in ${left} day(s), on ${until}`,
      action: `ask the hub's operator to renew it before ${until.slice(0, 10)}: after that no agent can connect`,
    };
  return {
    id: 'hub.certificate',
    level: 'ok',
    message: `the hub's certificate is valid for ${left} more days (until ${until})`,
  };
}

/** This machine's clock against the hub's (`time` from /healthz, else its Date header); undefined with neither. */
function clockFinding(
  time: string | undefined,
  date: string | undefined,
  now: () => number,
): DoctorFinding | undefined {
  const hubMs = time ? Date.parse(time) : date ? Date.parse(date) : NaN;
  if (Number.isNaN(hubMs)) return undefined;
  const skew = now() - hubMs;
  const abs = Math.abs(skew);
  const text =
    `this machine's clock is ${Math.round(abs / 1000)} s ${skew > 0 ? 'ahead of' : 'behind'} the hub's ` +
    `(${time ? 'its time' : 'its Date header'})`;
  const fix =
    'turn on automatic time synchronisation (NTP) on this machine (and on the hub): Windows "Set time ' +
    'automatically", Linux `timedatectl set-ntp true`';
  if (abs > CLOCK_ERROR_MS)
    return {
      id: 'clock.skew',
      level: 'error',
      message: text,
      action: `${fix}. Access tokens and the times of sales and returns depend on it`,
    };
  if (abs > CLOCK_WARN_MS) return { id: 'clock.skew', level: 'warning', message: text, action: fix };
  return { id: 'clock.skew', level: 'ok', message: text };
}
