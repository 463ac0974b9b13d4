import { TbCodes, TbError } from '@tillbridge/shared';
import { milliToNumber } from './amounts.js';
import { linkedLine, linkReason, messageId, returnLinks, type TxIdentity } from './identity.js';
import { dispositionOf, reasonOf, skuOf } from './items.js';
import type { TenderOut } from './tenders.js';
import { childrenNamed, textAt, type XNode } from './xml.js';

/**
 * Return lines of one transaction → `return.request` (one per original receipt) or, when the
 * document carries the hub's authorization, one `return.complete`. A line names the original
 * sale's line when its link gives LineItemSequenceNumber, and its `sku` otherwise.
 */

export interface ReturnItem {
  item: XNode;
  /** Positive quantity in thousandths. */
  milli: bigint;
}

export interface ReturnLineOut {
  line?: number;
  sku?: string;
  qty: number;
  reason?: string;
  disposition?: 'restock' | 'damaged';
}

export interface ReturnRequestOut {
  type: 'return.request';
  id: string;
  receipt: string;
  lines: ReturnLineOut[];
}

export interface ReturnCompleteOut {
  type: 'return.complete';
  id: string;
  authorization: string;
  lines: { line?: number; sku?: string; qty: number }[];
  refund: TenderOut;
}

export interface ReturnContext {
  tx: XNode;
  retail: XNode;
  identity: TxIdentity;
  /** the original sale's receipt number a TransactionLink names (links.ts) */
  linked: (link: XNode) => string | undefined;
  /** Fallback for the message id of a transaction without identity elements. */
  fallback: string;
}

interface Resolved {
  receipt: string | undefined;
  line: ReturnLineOut & { milli: bigint };
}

function resolve(r: ReturnItem, ctx: ReturnContext, only: boolean): Resolved {
  const { item } = r;
  const code =
    textAt(item, 'ReceiptCodeLink') ?? textAt(ctx.retail, 'ReceiptCodeLink') ?? textAt(ctx.tx, 'ReceiptCodeLink');
  const own = returnLinks(item)[0];
  const shared = returnLinks(ctx.retail)[0] ?? returnLinks(ctx.tx)[0];
  const link = own ?? shared;
  const receipt = code ?? (link ? ctx.linked(link) : undefined);
  if (code !== undefined && code.length > 64)
    throw new TbError(TbCodes.INVALID, 'ReceiptCodeLink: expected at most 64 characters');
  const lineNo = own ? linkedLine(own) : shared && only ? linkedLine(shared) : undefined;
  const line: Resolved['line'] = { qty: 0, milli: r.milli };
  if (lineNo !== undefined) line.line = lineNo;
  else line.sku = skuOf(item);
  const reason = reasonOf(item);
  if (reason !== undefined) line.reason = reason;
  const disposition = dispositionOf(item);
  if (disposition !== undefined) line.disposition = disposition;
  return { receipt, line };
}

/**
 * Lines naming the same original line (or the same sku) are one line: quantities add up, the first reason and
 * disposition stay.
 */
function merge(lines: Resolved['line'][]): ReturnLineOut[] {
  const byKey = new Map<string, Resolved['line']>();
  for (const l of lines) {
    const key = l.line !== undefined ? `line:${l.line}` : `sku:${l.sku}`;
    const seen = byKey.get(key);
    if (seen) seen.milli += l.milli;
    else byKey.set(key, { ...l });
  }
  return [...byKey.values()].map((l) => {
    const out: ReturnLineOut =
      l.line !== undefined
        ? { line: l.line, qty: milliToNumber(l.milli) }
        : { sku: l.sku, qty: milliToNumber(l.milli) };
    if (l.reason !== undefined) out.reason = l.reason;
    if (l.disposition !== undefined) out.disposition = l.disposition;
    return out;
  });
}

/**
 * The hub's authorization carried by the document: <ReturnAuthorization> or TransactionLink ReasonCode="Authorization".
 */
export function authorizationOf(nodes: XNode[]): string | undefined {
  for (const n of nodes) {
    const auth =
      textAt(n, 'ReturnAuthorization') ??
      childrenNamed(n, 'TransactionLink')
        .filter((l) => linkReason(l) === 'authorization')
        .map((l) => textAt(l, 'TransactionID') ?? textAt(l, 'AuthorizationID'))
        .find((a) => a !== undefined);
    if (auth === undefined) continue;
    if (auth.length > 64) throw new TbError(TbCodes.INVALID, 'ReturnAuthorization: expected at most 64 characters');
    return auth;
  }
  return undefined;
}

function refundOf(tenders: TenderOut[]): TenderOut {
  const first = tenders[0];
  if (first === undefined)
    throw new TbError(
      TbCodes.INVALID,
      'a return with an authorization needs a Tender (TypeCode="Refund") for the refund',
    );
  const kinds = new Set(tenders.map((t) => t.kind));
  const refund: TenderOut = {
    kind: kinds.size === 1 ? first.kind : 'mixed',
    amount: tenders.reduce((s, t) => s + t.amount, 0),
  };
  const pan = tenders.find((t) => t.pan !== undefined)?.pan;
  if (pan !== undefined) refund.pan = pan;
  return refund;
}

export function returnMessages(
  items: ReturnItem[],
  refunds: TenderOut[],
  ctx: ReturnContext,
): (ReturnRequestOut | ReturnCompleteOut)[] {
  const resolved = items.map((r) => resolve(r, ctx, items.length === 1));
  const authorization = authorizationOf([...items.map((r) => r.item), ctx.retail, ctx.tx]);
  if (authorization !== undefined) {
    const lines = merge(resolved.map((r) => r.line)).map((l) =>
      l.line !== undefined ? { line: l.line, qty: l.qty } : { sku: l.sku, qty: l.qty },
    );
    return [
      {
        type: 'return.complete',
        id: messageId('return.complete', ctx.identity, ctx.fallback),
        authorization,
        lines,
        refund: refundOf(refunds),
      },
    ];
  }
  const groups = new Map<string, Resolved['line'][]>();
  for (const r of resolved) {
    if (r.receipt === undefined) {
      throw new TbError(
        TbCodes.INVALID,
        'a returned item needs a TransactionLink (or se:ReceiptCodeLink) naming its original sale',
      );
    }
    const g = groups.get(r.receipt);
    if (g) g.push(r.line);
    else groups.set(r.receipt, [r.line]);
  }
  return [...groups].map(([receipt, lines]) => ({
    type: 'return.request',
    id: messageId('return.request', ctx.identity, ctx.fallback, receipt),
    receipt,
    lines: merge(lines),
  }));
}
