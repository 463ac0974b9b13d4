import { Agent as HttpsAgent, type AgentOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { TbCodes, TbError } from '@tillbridge/shared';

/**
 * Pinning the hub's certificate (`hub.fingerprint`): the SHA-256 fingerprint of the hub's leaf
 * certificate, as `openssl x509 -noout -fingerprint -sha256` and `tillbridge-hub stores enroll`
 * print it (`AB:CD:…`; colons and case optional). With a pin, the hub's certificate must be that
 * one: no CA is consulted and the host name is not checked — the pin is stronger than both. A new
 * hub certificate needs the new fingerprint in every agent's config (or the pin removed, with a
 * CA the agents trust).
 */

/** `ab:cd…`/`ABCD…` → `AB:CD:…` (32 bytes), or undefined when it is not a SHA-256 fingerprint. */
export function normalizeFingerprint(v: string): string | undefined {
  const hex = v
    .trim()
    .replace(/^sha256[:/=]?/i, '')
    .replace(/:/g, '')
    .toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) return undefined;
  return hex.replace(/..(?!$)/g, '$&:');
}

/** The error for a hub whose certificate is not the pinned one (no request was sent on it). */
export function pinMismatch(seen: string, expected: string): TbError {
  return new TbError(
    TbCodes.TLS,
    `the hub's certificate has SHA-256 fingerprint ${seen}, not the pinned ${expected} ` +
      '(hub.fingerprint): refusing to talk to it',
    { details: { seen, expected } },
  );
}

/**
 * An HTTPS agent (for got and ws alike) that accepts the hub's certificate only when its
 * fingerprint is `fingerprint`: the socket is destroyed at the end of the handshake otherwise,
 * before anything is written on it (Node holds a TLS socket's writes until then). Sessions are
 * not reused, so every connection's certificate is checked.
 */
export class PinnedAgent extends HttpsAgent {
  private readonly pin: string;

  constructor(fingerprint: string, opts: AgentOptions = {}) {
    super({ ...opts, maxCachedSessions: 0, rejectUnauthorized: false });
    const pin = normalizeFingerprint(fingerprint);
    if (!pin)
      throw new TbError(
        TbCodes.CONFIG,
        `hub.fingerprint: expected the SHA-256 fingerprint of the hub's certificate (64 hex digits, e.g. ` +
          `AB:CD:…), got "${fingerprint}"`,
      );
    this.pin = pin;
  }

  override createConnection(options: Record<string, unknown>, cb?: (err: Error | null, s: Duplex) => void): Duplex {
    // checked here, not by the CA: whatever the caller's options asked for
    const socket = (
      HttpsAgent.prototype as unknown as { createConnection(o: unknown, cb?: unknown): TLSSocket }
    ).createConnection.call(this, { ...options, rejectUnauthorized: false, session: undefined }, cb);
    socket.once('secureConnect', () => {
      const seen = peerCertificate(socket)?.fingerprint256;
      if (seen !== this.pin) socket.destroy(pinMismatch(seen ?? '(none)', this.pin));
    });
    return socket;
  }
}

/** The certificate the other end of a TLS socket showed; undefined once the socket is destroyed. */
export function peerCertificate(socket: TLSSocket): PeerCertificate | undefined {
  // Node answers null once the socket is destroyed, though its types leave that out
  const cert: PeerCertificate | null = socket.getPeerCertificate();
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- null, though the types say otherwise
  return cert ?? undefined;
}
