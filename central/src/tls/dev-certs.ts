import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import forge from 'node-forge';

/**
 * A local certificate authority and certificates for trying TLS (and mutual TLS) on one machine:
 * `tillbridge-hub certs dev`. Keys come from Node's own crypto (RSA 2048); node-forge builds and
 * signs the X.509 certificates, which Node cannot do by itself. Not for production: there, use
 * the organisation's PKI.
 */

export interface IssuedCert {
  cert: string;
  key: string;
}

export interface CertOptions {
  /** Subject common name; for a store client certificate, the store id. */
  cn: string;
  /** DNS names and IP addresses the certificate is for (servers). */
  hosts?: string[];
  /** 'server' or 'client' (extended key usage). */
  usage: 'server' | 'client';
  notBefore?: Date;
  notAfter?: Date;
}

function keyPair(): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; pem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const fk = forge.pki.privateKeyFromPem(pem);
  return { privateKey: fk, publicKey: forge.pki.setRsaPublicKey(fk.n, fk.e), pem };
}

function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f; // positive
  return b.toString('hex');
}

/*
 * Certificate validity is on the system's clock, not the hub's: TLS (OpenSSL) checks notBefore and
 * notAfter against the system's time, whatever clock a hub process was started with.
 */
export class DevCa {
  private constructor(
    private readonly cert: forge.pki.Certificate,
    private readonly key: forge.pki.rsa.PrivateKey,
    readonly pem: IssuedCert,
  ) {}

  static create(name = 'Tillbridge development CA', validDays = 3650): DevCa {
    const kp = keyPair();
    const cert = forge.pki.createCertificate();
    cert.publicKey = kp.publicKey;
    cert.serialNumber = serial();
    cert.validity.notBefore = new Date(Date.now() - 60_000);
    cert.validity.notAfter = new Date(Date.now() + validDays * 86_400_000);
    const attrs = [{ name: 'commonName', value: name }];
    cert.setSubject(attrs);
    cert.setIssuer(attrs);
    cert.setExtensions([
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      { name: 'subjectKeyIdentifier' },
    ]);
    cert.sign(kp.privateKey, forge.md.sha256.create());
    return new DevCa(cert, kp.privateKey, { cert: forge.pki.certificateToPem(cert), key: kp.pem });
  }

  issue(o: CertOptions): IssuedCert {
    const kp = keyPair();
    const cert = forge.pki.createCertificate();
    cert.publicKey = kp.publicKey;
    cert.serialNumber = serial();
    cert.validity.notBefore = o.notBefore ?? new Date(Date.now() - 60_000);
    cert.validity.notAfter = o.notAfter ?? new Date(Date.now() + 825 * 86_400_000);
    cert.setSubject([{ name: 'commonName', value: o.cn }]);
    cert.setIssuer(this.cert.subject.attributes);
    const altNames = (o.hosts ?? []).map((h) => (isIP(h) ? { type: 7, ip: h } : { type: 2, value: h }));
    const ext: object[] = [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: o.usage === 'server', clientAuth: o.usage === 'client' },
      { name: 'authorityKeyIdentifier', keyIdentifier: this.cert.generateSubjectKeyIdentifier().getBytes() },
    ];
    if (altNames.length > 0) ext.push({ name: 'subjectAltName', altNames });
    cert.setExtensions(ext);
    cert.sign(this.key, forge.md.sha256.create());
    return { cert: forge.pki.certificateToPem(cert), key: kp.pem };
  }
}

export interface DevCertFiles {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clients: Record<string, { cert: string; key: string }>;
}

/** Writes ca.pem, hub.pem/hub-key.pem and store-<id>.pem/store-<id>-key.pem into `dir` (keys 0600). */
export function writeDevCerts(dir: string, hosts: string[], stores: string[]): DevCertFiles {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = DevCa.create();
  const server = ca.issue({ cn: hosts[0] ?? 'localhost', hosts, usage: 'server' });
  const put = (name: string, text: string, secret = false): string => {
    const f = join(dir, name);
    writeFileSync(f, text, { mode: secret ? 0o600 : 0o644 });
    if (secret) chmodSync(f, 0o600); // a key file left from before keeps its mode otherwise
    return f;
  };
  const files: DevCertFiles = {
    dir,
    caCert: put('ca.pem', ca.pem.cert),
    serverCert: put('hub.pem', server.cert),
    serverKey: put('hub-key.pem', server.key, true),
    clients: {},
  };
  put('ca-key.pem', ca.pem.key, true);
  for (const s of stores) {
    const c = ca.issue({ cn: s, usage: 'client' });
    files.clients[s] = { cert: put(`store-${s}.pem`, c.cert), key: put(`store-${s}-key.pem`, c.key, true) };
  }
  return files;
}
