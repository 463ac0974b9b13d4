import type { RegisterReply } from '@tillbridge/shared';
import { formatMinor, formatQuantity } from './amounts.js';
import type { MessageRef } from './mapping.js';

/**
 * Replies → one small XML document (UTF-8, with a declaration, on one line so that it also
 * travels over line framing), one child per reply in order (shown indented here):
 *
 *   <TillbridgeReply xmlns="urn:tillbridge:reply:1">
 *     <Ack Id="…" Receipt="…" WorkstationID="…" SequenceNumber="…"/>
 *     <ReturnDecision Id="…" Authorization="…" Decision="approved" Mode="online" Reason="…">
 *       <Line Number="1" ApprovedQuantity="1" Code="ok"/>
 *     </ReturnDecision>
 *     <Receipt Id="…" ReceiptNumber="…" Found="true" Source="hub" Store="…" CurrencyCode="EUR" DateTime="…">
 *       <Line Number="1" ItemID="…" Quantity="2" UnitPrice="19.99" Returnable="1"/>
 *     </Receipt>
 *     <Error Id="…" Code="TB_INVALID">message</Error>
 *   </TillbridgeReply>
 *
 * Receipt, WorkstationID and SequenceNumber echo the transaction a reply answers (from the
 * decode context) so a register can match replies to its transactions.
 */
export const REPLY_NAMESPACE = 'urn:tillbridge:reply:1';

export interface PoslogContext {
  refs: MessageRef[];
}

export function isPoslogContext(v: unknown): v is PoslogContext {
  return typeof v === 'object' && v !== null && Array.isArray((v as PoslogContext).refs);
}

/** Characters XML 1.0 cannot carry become U+FFFD. */
function clean(s: string): string {
  return s.replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '\uFFFD');
}

/** Line breaks are written as character references too, so a reply is always one line. */
export function escapeText(s: string): string {
  return clean(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\n/g, '&#10;')
    .replace(/\r/g, '&#13;');
}

export function escapeAttr(s: string): string {
  return escapeText(s).replace(/"/g, '&quot;').replace(/'/g, '&apos;').replace(/\t/g, '&#9;');
}

function attrs(pairs: [string, string | number | boolean | undefined][]): string {
  return pairs
    .filter((p): p is [string, string | number | boolean] => p[1] !== undefined)
    .map(([k, v]) => ` ${k}="${escapeAttr(String(v))}"`)
    .join('');
}

function element(name: string, pairs: [string, string | number | boolean | undefined][], inner?: string): string {
  return inner === undefined ? `<${name}${attrs(pairs)}/>` : `<${name}${attrs(pairs)}>${inner}</${name}>`;
}

function refAttrs(ref: MessageRef | undefined): [string, string | undefined][] {
  return [
    ['Receipt', ref?.receipt],
    ['WorkstationID', ref?.workstation],
    ['SequenceNumber', ref?.sequence],
  ];
}

function one(r: RegisterReply, ref: MessageRef | undefined, digits: number): string {
  switch (r.type) {
    case 'ack':
      return element('Ack', [['Id', r.id], ...refAttrs(ref)]);
    case 'return.decision': {
      const lines = r.lines.map((l) =>
        element('Line', [
          ['Number', l.line],
          ['ApprovedQuantity', formatQuantity(l.approvedQty)],
          ['Code', l.code],
        ]),
      );
      const head: [string, string | undefined][] = [
        ['Id', r.id],
        ['Authorization', r.authorization],
        ['Decision', r.decision],
        ['Mode', r.mode],
        ['Reason', r.reason],
      ];
      return element('ReturnDecision', [...head, ...refAttrs(ref)], lines.join(''));
    }
    case 'receipt': {
      const lines = r.lines.map((l) =>
        element('Line', [
          ['Number', l.line],
          ['ItemID', l.sku],
          ['Quantity', formatQuantity(l.qty)],
          ['UnitPrice', formatMinor(l.unitPrice, digits)],
          ['Returnable', formatQuantity(l.returnable)],
        ]),
      );
      const head: [string, string | boolean | undefined][] = [
        ['Id', r.id],
        ['ReceiptNumber', r.receipt],
        ['Found', r.found],
        ['Source', r.source],
        ['Store', r.store],
        ['CurrencyCode', r.currency],
        ['DateTime', r.at],
      ];
      return element('Receipt', head, lines.join(''));
    }
    case 'error':
      return element('Error', [['Id', r.id], ['Code', r.code], ...refAttrs(ref)], escapeText(r.message));
  }
}

export function encodeReplies(replies: RegisterReply[], context: unknown, minorUnitDigits: number): Buffer {
  const refs = isPoslogContext(context) ? new Map(context.refs.map((r) => [r.id, r])) : new Map<string, MessageRef>();
  const body = replies
    .map((r) => one(r, r.type === 'receipt' || r.id === undefined ? undefined : refs.get(r.id), minorUnitDigits))
    .join('');
  return Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?><TillbridgeReply xmlns="${REPLY_NAMESPACE}">${body}</TillbridgeReply>`,
    'utf8',
  );
}
