import { TbCodes, TbError } from '@tillbridge/shared/errors';

/**
 * What went wrong reaching the hub's admin API, told from the error's `code` (Node's errno and
 * OpenSSL verification codes, never the message text), as a TbError that says what to do:
 * TB_INVALID for a --hub URL that is not one (exit 2), TB_TLS for a certificate the CLI refused
 * (exit 7), TB_HUB_UNAVAILABLE for the rest (exit 1).
 */

const HUB_HINT = '(--hub URL or TILLBRIDGE_HUB_URL)';

/** OpenSSL's "I do not trust who signed this" codes. */
const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_CHAIN_TOO_LONG',
]);

/** The rest of OpenSSL's certificate verification codes Node passes on. */
const OTHER_CERT = new Set([
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_REVOKED',
  'CERT_REJECTED',
  'INVALID_PURPOSE',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
]);

/** The --hub URL as a URL the admin client can use, or TB_INVALID saying what is wrong with it. */
export function parseHubUrl(base: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(base);
  } catch {
    url = undefined;
  }
  if (url && (url.protocol === 'http:' || url.protocol === 'https:')) return url;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(base)?.[1];
  const why = scheme
    ? `expected an http:// or https:// URL, not ${scheme}://`
    : `expected a URL with its scheme, e.g. http://${base.replace(/^\/+/, '') || '127.0.0.1:7400'} or https://…`;
  throw new TbError(TbCodes.INVALID, `--hub "${base}": ${why} ${HUB_HINT}`);
}

export function connectionError(url: URL, err: unknown, caFile: string | undefined): TbError {
  const code = (err as { code?: unknown }).code;
  const at = url.origin;
  const say = (tbCode: TbError['code'], text: string): TbError =>
    new TbError(tbCode, text, { cause: err, details: { code } });
  if (typeof code !== 'string')
    return say(TbCodes.HUB_UNAVAILABLE, `cannot reach the hub at ${at}: ${(err as Error).message} ${HUB_HINT}`);

  if (UNTRUSTED.has(code)) {
    return say(
      TbCodes.TLS,
      caFile
        ? `the hub's certificate at ${at} is not signed by the CA in --ca ${caFile} (${code}): pass the CA ` +
            `that issued the hub's certificate`
        : `the hub's certificate at ${at} is not trusted (${code}): pass the CA that issued it with --ca ` +
            `FILE (or TILLBRIDGE_HUB_CA)`,
    );
  }
  if (code === 'CERT_HAS_EXPIRED')
    return say(
      TbCodes.TLS,
      `the hub's certificate at ${at} has expired (${code}): the hub needs a new certificate (serve --tls-cert)`,
    );
  if (code === 'CERT_NOT_YET_VALID')
    return say(
      TbCodes.TLS,
      `the hub's certificate at ${at} is not valid yet (${code}): check the clock of this machine and of the hub`,
    );
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH') {
    return say(
      TbCodes.TLS,
      `the hub's certificate is not issued for ${url.hostname} (${code}): use a --hub host name the ` +
        `certificate names, or give the hub a certificate for ${url.hostname}`,
    );
  }
  if (OTHER_CERT.has(code)) return say(TbCodes.TLS, `the hub's certificate at ${at} was refused (${code})`);
  if (code === 'EPROTO' || code.startsWith('ERR_SSL_')) {
    return say(
      TbCodes.HUB_UNAVAILABLE,
      `no TLS handshake with ${at} (${code}): if the hub serves plain HTTP there, use http:// ${HUB_HINT}`,
    );
  }

  switch (code) {
    case 'ERR_INVALID_URL':
    case 'ERR_UNSUPPORTED_PROTOCOL':
      return say(TbCodes.INVALID, `--hub "${url.href}" is not a URL the CLI can use (${code}) ${HUB_HINT}`);
    case 'ECONNREFUSED':
      return say(
        TbCodes.HUB_UNAVAILABLE,
        `nothing is listening at ${at} (${code}). Is \`tillbridge-hub serve\` running there? ${HUB_HINT}`,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return say(
        TbCodes.HUB_UNAVAILABLE,
        `cannot resolve the host name ${url.hostname} (${code}): check the --hub URL and this machine's ` +
          `DNS ${HUB_HINT}`,
      );
    case 'ECONNRESET':
      return say(
        TbCodes.HUB_UNAVAILABLE,
        `${at} closed the connection without answering ` +
          `(${code})${url.protocol === 'http:' ? ': if the hub serves https, use https://' : ''} ${HUB_HINT}`,
      );
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
      return say(
        TbCodes.HUB_UNAVAILABLE,
        `the hub at ${at} does not answer (${code}): check the network path and the --hub URL ${HUB_HINT}`,
      );
    default:
      return say(
        TbCodes.HUB_UNAVAILABLE,
        `cannot reach the hub at ${at} (${code}): ${(err as Error).message} ${HUB_HINT}`,
      );
  }
}
