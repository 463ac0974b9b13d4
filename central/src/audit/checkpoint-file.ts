import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { TbCodes, TbError } from '@tillbridge/shared';
import { fingerprintOf } from './signing-key.js';

export const CHECKPOINT_KIND = 'tillbridge.audit.checkpoint';
export const CHECKPOINT_FORMAT = 'tillbridge-audit-checkpoint/1';

/** What a checkpoint vouches for: the chain's head entry (id, hash), when, and the chain's length. */
export interface CheckpointBody {
  kind: typeof CHECKPOINT_KIND;
  v: 1;
  /** The checkpoint's own number at this hub. */
  seq: number;
  /** The head entry's id. */
  id: number;
  /** The head entry's chain hash. */
  hash: string;
  /** When the checkpoint was written. */
  at: string;
  /** Entries in the chain up to and including the head (ids run 1, 2, 3… so this equals id). */
  entries: number;
}

/** A checkpoint as handed to an operator: verifiable with nothing but this file (and an export). */
export interface CheckpointFile {
  format: typeof CHECKPOINT_FORMAT;
  checkpoint: CheckpointBody;
  /** The exact text that was signed (the checkpoint above, as JSON). */
  payload: string;
  /** Ed25519 signature over the payload's UTF-8 bytes, base64. */
  signature: string;
  /** The signer's public key (SPKI PEM). */
  publicKey: string;
  /** SHA256 fingerprint of that key: compare it with the one you trust (`audit public-key`). */
  fingerprint: string;
}

/** The signed text of a checkpoint: its fields in a fixed order. */
export function payloadOf(b: Omit<CheckpointBody, 'kind' | 'v'>): string {
  const body: CheckpointBody = {
    kind: CHECKPOINT_KIND,
    v: 1,
    seq: b.seq,
    id: b.id,
    hash: b.hash,
    at: b.at,
    entries: b.entries,
  };
  return JSON.stringify(body);
}

export function signatureValid(payload: string, signature: string, key: KeyObject): boolean {
  try {
    return verify(null, Buffer.from(payload, 'utf8'), key, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

/** Parses a signed payload; throws when it is not a checkpoint. */
export function parsePayload(payload: string): CheckpointBody {
  let b: Partial<CheckpointBody>;
  try {
    b = JSON.parse(payload) as Partial<CheckpointBody>;
  } catch {
    throw new TbError(TbCodes.INVALID, 'the checkpoint payload is not JSON');
  }
  const ok =
    b.kind === CHECKPOINT_KIND &&
    b.v === 1 &&
    Number.isInteger(b.seq) &&
    Number.isInteger(b.id) &&
    (b.id ?? 0) >= 1 &&
    typeof b.hash === 'string' &&
    /^[0-9a-f]{64}$/.test(b.hash) &&
    typeof b.at === 'string' &&
    Number.isInteger(b.entries);
  if (!ok) throw new TbError(TbCodes.INVALID, `the checkpoint payload is not a ${CHECKPOINT_KIND} v1`);
  return b as CheckpointBody;
}

export interface TrustAnchor {
  /** Only a checkpoint signed by this key (SPKI PEM) is accepted. */
  publicKeyPem?: string;
  /** Only a checkpoint signed by the key with this fingerprint is accepted. */
  fingerprint?: string;
}

/**
 * Checks a checkpoint file away from the hub: its signature over the payload with the public key
 * it carries, the fingerprint it states, the readable copy against the signed one, and (when
 * given) the key the operator trusts. Returns what it vouches for; throws TB_AUDIT_BROKEN when
 * it must not be believed, TB_INVALID when it is not a checkpoint file at all.
 */
export function verifyCheckpointFile(
  raw: unknown,
  trust: TrustAnchor = {},
): { body: CheckpointBody; fingerprint: string; pinned: boolean } {
  const f = raw as Partial<CheckpointFile> | null;
  if (
    !f ||
    typeof f !== 'object' ||
    f.format !== CHECKPOINT_FORMAT ||
    typeof f.payload !== 'string' ||
    typeof f.signature !== 'string' ||
    typeof f.publicKey !== 'string'
  ) {
    throw new TbError(
      TbCodes.INVALID,
      `not a checkpoint file (expected "format": "${CHECKPOINT_FORMAT}" with payload, signature and publicKey)`,
    );
  }
  let key: KeyObject;
  try {
    key = createPublicKey(f.publicKey);
  } catch {
    throw new TbError(TbCodes.INVALID, "the checkpoint file's publicKey is not a PEM public key");
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new TbError(TbCodes.INVALID, "the checkpoint file's publicKey is not an Ed25519 key");
  const fingerprint = fingerprintOf(key);
  if (f.fingerprint !== fingerprint)
    throw new TbError(
      TbCodes.AUDIT_BROKEN,
      `the checkpoint file states fingerprint ${String(f.fingerprint)} but its key's is ${fingerprint}: it was edited`,
    );
  if (trust.publicKeyPem !== undefined) {
    let trusted: string;
    try {
      trusted = fingerprintOf(createPublicKey(trust.publicKeyPem));
    } catch {
      throw new TbError(TbCodes.INVALID, 'the trusted public key is not a PEM public key');
    }
    if (trusted !== fingerprint)
      throw new TbError(
        TbCodes.AUDIT_BROKEN,
        `the checkpoint was signed by key ${fingerprint}, not by the trusted key ${trusted}`,
      );
  }
  if (trust.fingerprint !== undefined && trust.fingerprint.replace(/=+$/, '') !== fingerprint) {
    throw new TbError(
      TbCodes.AUDIT_BROKEN,
      `the checkpoint was signed by key ${fingerprint}, not by the trusted key ${trust.fingerprint}`,
    );
  }
  if (!signatureValid(f.payload, f.signature, key)) {
    throw new TbError(
      TbCodes.AUDIT_BROKEN,
      `the checkpoint's signature does not verify with key ${fingerprint}: the checkpoint was changed or forged`,
    );
  }
  const body = parsePayload(f.payload);
  const shown = (f.checkpoint ?? {}) as unknown as Record<string, unknown>;
  const signed = body as unknown as Record<string, unknown>;
  if (
    Object.keys(shown).length !== Object.keys(signed).length ||
    Object.keys(signed).some((k) => shown[k] !== signed[k])
  ) {
    throw new TbError(
      TbCodes.AUDIT_BROKEN,
      'the checkpoint shown in the file differs from the signed payload: it was edited',
    );
  }
  return { body, fingerprint, pinned: trust.publicKeyPem !== undefined || trust.fingerprint !== undefined };
}
