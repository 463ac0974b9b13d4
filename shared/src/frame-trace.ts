import { maskCardNumbersIn, FORBIDDEN_CARD_FIELDS } from './card.js';

const TRACK1_ANY = /%?B\d{12,19}\^[^^]{2,26}\^\d{4}[^?\s"<]*\??/g;
const TRACK2_ANY = /;?\d{12,19}=\d{4}[\d]*\??/g;
const FIELDS = FORBIDDEN_CARD_FIELDS.join('|');
/** "cvv": "123" / "cvv":123 (JSON), <Cvv>123</Cvv> (XML), cvv=123 (key=value) */
const JSON_FIELD = new RegExp(`("(?:${FIELDS})"\\s*:\\s*)("(?:[^"\\\\]|\\\\.)*"|[^,}\\s]+)`, 'gi');
const XML_FIELD = new RegExp(`(<((?:\\w+:)?(?:${FIELDS}))\\b[^>]*>)[^<]*(</\\2>)`, 'gi');
const KV_FIELD = new RegExp(`(\\b(?:${FIELDS})=)[^&;|,\\s]*`, 'gi');

/**
 * A register frame as it may be written to a trace log (log level "trace", docs/configuration.md):
 * the bytes as text, with magnetic-stripe track data and the values of card-security fields (cvv,
 * pin, track1 … as JSON keys, XML elements or key=value) replaced by "[removed]", then every card
 * number masked to first 6 / last 4 (shared/src/card.ts). Control bytes are shown as \xNN.
 */
export function frameForTrace(frame: Buffer | string, maxChars = 4096): string {
  let text = typeof frame === 'string' ? frame : frame.toString('latin1');
  text = text
    .replace(TRACK1_ANY, '[track data removed]')
    .replace(TRACK2_ANY, '[track data removed]')
    .replace(JSON_FIELD, '$1"[removed]"')
    .replace(XML_FIELD, '$1[removed]$3')
    .replace(KV_FIELD, '$1[removed]');
  text = maskCardNumbersIn(text);
  // eslint-disable-next-line no-control-regex
  text = text.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return text.length > maxChars ? `${text.slice(0, maxChars)}… (${text.length} chars)` : text;
}
