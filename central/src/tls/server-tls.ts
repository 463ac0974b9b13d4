import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { TLSSocket, type PeerCertificate } from 'node:tls';
import { TbCodes, TbError } from '@tillbridge/shared';

export interface HubTlsOptions {
  certFile: string;
  keyFile: string;
  /** CA of the store client certificates (mutual TLS); without it no client certificate is asked. */
  clientCaFile?: string;
  /** Agents must present a valid client certificate (the admin API does not need one). */
  requireClientCert?: boolean;
}

export interface LoadedTls {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  requireClientCert: boolean;
}

function read(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new TbError(TbCodes.CONFIG, `cannot read the ${what} ${file}: ${(err as Error).message}`);
  }
}

export function loadTls(o: HubTlsOptions): LoadedTls {
  const out: LoadedTls = {
    cert: read(o.certFile, 'certificate'),
    key: read(o.keyFile, 'private key'),
    requireClientCert: Boolean(o.requireClientCert),
  };
  if (o.clientCaFile) out.ca = read(o.clientCaFile, 'client CA');
  if (o.requireClientCert && !out.ca)
    throw new TbError(
      TbCodes.CONFIG,
      '--require-client-cert needs --client-ca FILE (the CA of the store certificates)',
    );
  return out;
}

/** TLS 1.2 at least; client certificates asked when a client CA is given (checked per route). */
export function serverOptions(t: LoadedTls): Record<string, unknown> {
  const o: Record<string, unknown> = { cert: t.cert, key: t.key, minVersion: 'TLSv1.2' };
  if (t.ca) {
    o.ca = t.ca;
    o.requestCert = true;
    o.rejectUnauthorized = false; // the admin API does not need one; agent routes check it themselves
  }
  return o;
}

export type ClientCert = { kind: 'none' } | { kind: 'invalid'; reason: string } | { kind: 'valid'; store: string };

/**
 * The store a request's client certificate vouches for: its subject CN, or a SAN URI
 * `urn:tillbridge:store:<id>`. `invalid` when one was presented but does not chain to the client CA
 * (or has expired).
 */
export function clientCertOf(req: IncomingMessage): ClientCert {
  const socket = req.socket;
  if (!(socket instanceof TLSSocket)) return { kind: 'none' };
  // {} without a certificate, whatever the type says
  const peer = socket.getPeerCertificate() as Partial<PeerCertificate> | null;
  if (!peer || Object.keys(peer).length === 0) return { kind: 'none' };
  if (!socket.authorized) {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- typed Error, null at runtime when unset
    return { kind: 'invalid', reason: String(socket.authorizationError ?? 'not trusted') };
  }
  const uri = /URI:urn:tillbridge:store:([A-Za-z0-9._-]+)/.exec(peer.subjectaltname ?? '')?.[1];
  const cn = Array.isArray(peer.subject?.CN) ? peer.subject.CN[0] : peer.subject?.CN;
  const store = uri ?? cn;
  return store ? { kind: 'valid', store } : { kind: 'invalid', reason: 'the certificate names no store' };
}
