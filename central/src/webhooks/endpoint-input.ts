import { isLoopbackHost, TbCodes, TbError } from '@tillbridge/shared';
import { SUBSCRIBABLE_EVENT_TYPES, type WebhookEventType } from './events.js';

export interface CheckedUrl {
  url: string;
  /** Things the operator should know, e.g. plain http beyond loopback. */
  warnings: string[];
}

/** An endpoint URL: http or https, a host, no credentials in it, no fragment. */
export function checkEndpointUrl(v: unknown): CheckedUrl {
  if (typeof v !== 'string' || v.length === 0 || v.length > 2000)
    throw new TbError(TbCodes.INVALID, 'url: expected an http:// or https:// URL of at most 2000 characters');
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new TbError(TbCodes.INVALID, `url: "${v}" is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new TbError(TbCodes.INVALID, `url: expected http:// or https://, got ${u.protocol}//`);
  if (u.username || u.password)
    throw new TbError(
      TbCodes.INVALID,
      'url: credentials in the URL are refused (user:password@…); ' +
        'the receiver checks the webhook-signature header instead',
    );
  if (!u.hostname) throw new TbError(TbCodes.INVALID, 'url: expected a host');
  if (u.hash) throw new TbError(TbCodes.INVALID, 'url: a #fragment is never sent; remove it');
  const warnings: string[] = [];
  if (u.protocol === 'http:' && !isLoopbackHost(u.hostname))
    warnings.push('plain http beyond loopback: the events are signed but travel unencrypted; prefer https://');
  return { url: u.toString(), warnings };
}

/** The event types an endpoint subscribes to: a non-empty list of known types, without duplicates. */
export function checkEventList(v: unknown): WebhookEventType[] {
  const list =
    typeof v === 'string'
      ? v
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean)
      : v;
  const known = SUBSCRIBABLE_EVENT_TYPES as readonly string[];
  if (!Array.isArray(list) || list.length === 0)
    throw new TbError(TbCodes.INVALID, `events: expected one or more of ${known.join(', ')}`);
  const bad = list.filter((t) => typeof t !== 'string' || !known.includes(t));
  if (bad.length > 0)
    throw new TbError(
      TbCodes.INVALID,
      `events: unknown ${bad.map((b) => JSON.stringify(b)).join(', ')}; expected one or more of ${known.join(', ')}`,
    );
  return [...new Set(list as WebhookEventType[])];
}
