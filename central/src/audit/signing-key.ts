import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TbCodes, TbError } from '@tillbridge/shared';

/** The hub's audit signing key: Ed25519, PKCS#8 PEM in the data dir, mode 0600, made on first use. */
export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** SPKI PEM, for operators and checkpoint files. */
  publicPem: string;
  fingerprint: string;
}

export function signingKeyPath(dataDir: string): string {
  return join(dataDir, 'audit-signing-key.pem');
}

/** `SHA256:<base64 of SHA-256 over the DER public key>`, as ssh prints keys. */
export function fingerprintOf(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return `SHA256:${createHash('sha256').update(der).digest('base64').replace(/=+$/, '')}`;
}

function fromPrivate(privateKey: KeyObject): SigningKey {
  const publicKey = createPublicKey(privateKey);
  return {
    privateKey,
    publicKey,
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    fingerprint: fingerprintOf(publicKey),
  };
}

/** The key, or undefined when none was made yet. Refuses a key file others may read. */
export function loadSigningKey(dataDir: string): SigningKey | undefined {
  const file = signingKeyPath(dataDir);
  if (!existsSync(file)) return undefined;
  if (process.platform !== 'win32' && (statSync(file).mode & 0o077) !== 0) {
    throw new TbError(TbCodes.CONFIG, `${file} may be read by others: chmod 600 ${file}`);
  }
  const privateKey = createPrivateKey(readFileSync(file));
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new TbError(TbCodes.CONFIG, `${file} is not an Ed25519 private key`);
  return fromPrivate(privateKey);
}

export function loadOrCreateSigningKey(dataDir: string): SigningKey {
  const existing = loadSigningKey(dataDir);
  if (existing) return existing;
  const { privateKey } = generateKeyPairSync('ed25519');
  const file = signingKeyPath(dataDir);
  try {
    writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600);
  } catch (err) {
    // another process made it first: use theirs
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const theirs = loadSigningKey(dataDir);
    if (!theirs) throw new TbError(TbCodes.CONFIG, `${file} was made by another process and then removed`);
    return theirs;
  }
  return fromPrivate(privateKey);
}
