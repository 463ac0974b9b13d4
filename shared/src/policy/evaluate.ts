import { lineAmount, returnAmount } from '../money.js';
import { fromMilli, toMilli } from '../quantity.js';
import { LineCodes, type DecisionLine, type LineCode } from '../register-protocol.js';
import { judgeReturn, type JudgedLine, type RequestedLine, type SoldLine } from '../returnable.js';
import { PolicyCodes, type Policy, type TenderKind } from './schema.js';

/**
 * Judges a return request against a policy. Pure: the hub (online, authoritative state) and the
 * agent (offline, what it knows) call the same function with what they know, so a register gets
 * the same answer for the same facts either way.
 */

export type GradedDecision = 'approved' | 'conditional' | 'override_required' | 'denied';

export interface EvaluationInput {
  policy: Policy;
  mode: 'online' | 'offline';
  now: number;
  /** The original sale, when the request named one that was found (offline: sold at this store). */
  sale?: { at: string; channel: string; lines: SoldLine[]; tenderKinds: string[] } | undefined;
  /** The request named no receipt and no card: a non-receipted return. */
  noReceipt: boolean;
  /** Code for lines of a receipt that was named but not found. */
  notFoundCode?: LineCode;
  /** milli-units already returned or reserved per sale line. */
  claimed: ReadonlyMap<number, number>;
  /**
   * What the returns counted in `claimed` refunded per sale line (minor units at the sold price,
   * before fees). A line missing here is taken as priced at its share: the amount for `claimed`.
   */
  refunded?: ReadonlyMap<number, number> | undefined;
  /** Lines asked for; `unitPrice` only counts for non-receipted returns (there is no sale to price them). */
  requested: (RequestedLine & { unitPrice?: number | undefined })[];
  /** Refunds already approved today: by the store (online), by this register (offline). */
  approvedToday: { store: number; register: number };
  /** Items the customer takes in exchange, with what the store has available (online only). */
  exchange?: { sku: string; qty: number; availableMilli?: number }[] | undefined;
  /** A manager with a valid code has overridden. */
  overridden?: boolean;
  /** The hub's sync settings forbid offline approvals (offlineApprovals: false). */
  offlineDisabled?: boolean;
}

export interface FiredRule {
  code: string;
  detail: string;
  line?: number;
}

export interface EvaluatedLine extends JudgedLine {
  /** what the approved quantity refunds at the sold price, before the fee (minor units) */
  amount: number;
  /** restocking fee on this line, minor units */
  fee: number;
}

export interface Evaluation {
  decision: GradedDecision;
  lines: EvaluatedLine[];
  /** Value of the approved lines at their sold prices. */
  grossRefund: number;
  fees: number;
  /** What the customer gets back: gross minus fees. */
  refundAmount: number;
  allowedTenders: TenderKind[];
  conditions: string[];
  rules: FiredRule[];
  exchange: { sku: string; qty: number; approvedQty: number; code: string }[];
  reason?: string;
}

const DAY = 86_400_000;

function nonReturnable(policy: Policy, sku: string): boolean {
  return policy.nonReturnable.skus.includes(sku) || policy.nonReturnable.prefixes.some((p) => sku.startsWith(p));
}

function feePercent(policy: Policy, sku: string): number {
  return policy.restockingFees.find((f) => sku.startsWith(f.skuPrefix))?.percent ?? 0;
}

/** How a sale was paid (card, cash…): its tenders' kinds, lower-cased, each once — what `allowedTenders` takes. */
export function tenderKindsOf(tenders: readonly { kind?: unknown }[]): string[] {
  return [...new Set(tenders.map((t) => String(t.kind ?? '').toLowerCase()).filter(Boolean))];
}

/** Which tenders a refund may go to, from how the sale was paid. */
export function allowedTenders(policy: Policy, tenderKinds: string[], channel: string, refund: number): TenderKind[] {
  const out = new Set<TenderKind>(['store_credit']);
  const kinds = tenderKinds.length > 0 ? tenderKinds : ['cash'];
  for (const k of kinds) {
    if (k === 'card' || k === 'credit' || k === 'debit') {
      out.add('card');
      if (!policy.tenders.cardToSameCard) out.add('cash');
    } else if (k === 'cash') {
      if (refund <= policy.tenders.cashRefundLimit) out.add('cash');
    } else if (k === 'gift_card' || k === 'giftcard') {
      out.add('gift_card');
    }
  }
  if (channel !== 'store') out.add('original_payment');
  return [...out].sort();
}

export function evaluateReturn(input: EvaluationInput): Evaluation {
  const { policy } = input;
  const rules: FiredRule[] = [];
  const conditions = new Set<string>();
  /** the codes of the rules that need a manager, first one first */
  const overrideCodes: string[] = [];
  const deny = (lines: EvaluatedLine[], code: string, detail: string): Evaluation => {
    rules.push({ code, detail });
    return {
      decision: 'denied',
      lines: lines.map((l) => ({
        ...l,
        approvedMilli: 0,
        amount: 0,
        fee: 0,
        code: l.code === LineCodes.OK ? (code as LineCode) : l.code,
      })),
      grossRefund: 0,
      fees: 0,
      refundAmount: 0,
      allowedTenders: [],
      conditions: [],
      rules,
      exchange: exchangeDenied(input, code),
      reason: detail,
    };
  };

  if (input.mode === 'offline' && input.offlineDisabled) {
    const lines = input.requested.map((r) => ({
      line: r.line ?? 0,
      ...(r.sku !== undefined ? { askedBySku: r.sku } : {}),
      requestedMilli: toMilli(r.qty),
      approvedMilli: 0,
      code: LineCodes.OK,
      amount: 0,
      fee: 0,
    }));
    return deny(
      lines,
      PolicyCodes.OFFLINE_DISABLED,
      'offline approvals are switched off for this store: the hub must decide',
    );
  }

  // --- which lines, how much
  let lines: EvaluatedLine[];
  let tenderKinds: string[] = [];
  let channel = 'store';
  if (input.noReceipt) {
    lines = input.requested.map((r) => ({
      line: r.line ?? 0,
      ...(r.sku !== undefined ? { askedBySku: r.sku, sku: r.sku } : {}),
      requestedMilli: toMilli(r.qty),
      approvedMilli: toMilli(r.qty),
      code: LineCodes.OK,
      unitPrice: r.unitPrice ?? 0,
      amount: 0,
      fee: 0,
    }));
    if (input.mode === 'offline' && policy.offline.receiptRequired)
      return deny(lines, PolicyCodes.OFFLINE_RECEIPT_REQUIRED, 'offline, a return needs a receipt sold at this store');
    if (policy.receipt.required)
      return deny(lines, PolicyCodes.RECEIPT_REQUIRED, 'this store requires a receipt for returns');
    if (
      lines.some((l) => l.sku === undefined || input.requested.find((r) => r.sku === l.sku)?.unitPrice === undefined)
    ) {
      return deny(
        lines,
        PolicyCodes.RECEIPT_REQUIRED,
        'a return without a receipt names each item by sku with its unitPrice',
      );
    }
    conditions.add(PolicyCodes.STORE_CREDIT_ONLY);
    conditions.add(PolicyCodes.ID_REQUIRED);
    rules.push({ code: PolicyCodes.STORE_CREDIT_ONLY, detail: 'no receipt: store credit only, identity checked' });
  } else {
    const j = judgeReturn(
      input.sale?.lines,
      input.claimed,
      input.requested,
      input.notFoundCode ?? LineCodes.RECEIPT_NOT_FOUND,
    );
    lines = j.lines.map((l) => ({ ...l, amount: 0, fee: 0 }));
    if (!input.sale) {
      rules.push({ code: lines[0]?.code ?? LineCodes.RECEIPT_NOT_FOUND, detail: j.reason ?? 'receipt not found' });
      return {
        decision: 'denied',
        lines,
        grossRefund: 0,
        fees: 0,
        refundAmount: 0,
        allowedTenders: [],
        conditions: [],
        rules,
        exchange: exchangeDenied(input, lines[0]?.code ?? LineCodes.RECEIPT_NOT_FOUND),
        reason: j.reason ?? 'receipt not found',
      };
    }
    tenderKinds = input.sale.tenderKinds;
    channel = input.sale.channel;
    for (const l of lines)
      if (l.code !== LineCodes.OK) rules.push({ code: l.code, detail: `line ${l.line}: ${l.code}`, line: l.line });

    // window
    const ageDays = (input.now - Date.parse(input.sale.at)) / DAY;
    if (ageDays > policy.returnWindowDays) {
      const detail = `sold ${Math.floor(ageDays)} days ago; the window is ${policy.returnWindowDays} days`;
      if (!policy.windowOverridable) return deny(lines, PolicyCodes.OUTSIDE_WINDOW, detail);
      rules.push({ code: PolicyCodes.OUTSIDE_WINDOW, detail });
      overrideCodes.push(PolicyCodes.OUTSIDE_WINDOW);
    }
  }

  // non-returnable items
  for (const l of lines) {
    if (l.code === LineCodes.OK && l.sku !== undefined && nonReturnable(policy, l.sku)) {
      l.code = PolicyCodes.NON_RETURNABLE as LineCode;
      l.approvedMilli = 0;
      rules.push({ code: PolicyCodes.NON_RETURNABLE, detail: `${l.sku} is not returnable`, line: l.line });
    }
  }

  // money: gross, fees. A receipt's line refunds what everything returned of it so far is worth
  // minus what was already refunded for it (never each return rounded on its own).
  let gross = 0;
  let fees = 0;
  for (const l of lines) {
    if (l.approvedMilli === 0) continue;
    const price = l.unitPrice ?? 0;
    const claimed = input.noReceipt ? 0 : (input.claimed.get(l.line) ?? 0);
    const before = { milli: claimed, amount: input.refunded?.get(l.line) ?? lineAmount(claimed, price) };
    const amount = input.noReceipt ? lineAmount(l.approvedMilli, price) : returnAmount(price, before, l.approvedMilli);
    l.amount = amount;
    const pct = l.sku !== undefined ? feePercent(policy, l.sku) : 0;
    if (pct > 0) {
      l.fee = Math.round((amount * pct) / 100);
      fees += l.fee;
      rules.push({
        code: PolicyCodes.RESTOCKING_FEE,
        detail: `${pct} % restocking fee on ${l.sku}: ${l.fee}`,
        line: l.line,
      });
    }
    gross += amount;
  }
  const refund = gross - fees;
  if (!lines.some((l) => l.approvedMilli > 0)) {
    const reason = rules.map((r) => r.detail).join('; ') || 'no line can be returned';
    return {
      decision: 'denied',
      lines,
      grossRefund: 0,
      fees: 0,
      refundAmount: 0,
      allowedTenders: [],
      conditions: [],
      rules,
      exchange: exchangeDenied(input, 'return_denied'),
      reason,
    };
  }

  // limits
  if (input.noReceipt && refund > policy.receipt.noReceiptMaxRefund) {
    return deny(
      lines,
      PolicyCodes.NO_RECEIPT_LIMIT,
      `refund ${refund} without a receipt is over the limit of ${policy.receipt.noReceiptMaxRefund}`,
    );
  }
  if (policy.maxRefundPerReturn !== null && refund > policy.maxRefundPerReturn) {
    return deny(
      lines,
      PolicyCodes.MAX_REFUND_EXCEEDED,
      `refund ${refund} is over the limit of ${policy.maxRefundPerReturn} per return`,
    );
  }
  if (input.mode === 'offline') {
    if (refund > policy.offline.maxRefundPerReturn)
      return deny(
        lines,
        LineCodes.OFFLINE_LIMIT,
        `refund ${refund} is over the offline limit of ${policy.offline.maxRefundPerReturn}`,
      );
    const cap = policy.offline.maxRefundPerRegisterPerDay;
    if (cap !== null && input.approvedToday.register + refund > cap) {
      return deny(
        lines,
        PolicyCodes.OFFLINE_REGISTER_DAILY_LIMIT,
        `this register approved ${input.approvedToday.register} offline today; ${refund} more is over ${cap}`,
      );
    }
  }
  if (policy.maxRefundPerStorePerDay !== null && input.approvedToday.store + refund > policy.maxRefundPerStorePerDay) {
    rules.push({
      code: PolicyCodes.STORE_DAILY_LIMIT,
      detail: `the store approved ${input.approvedToday.store} today; ${refund} more is over ${policy.maxRefundPerStorePerDay}`,
    });
    overrideCodes.push(PolicyCodes.STORE_DAILY_LIMIT);
  }
  if (policy.managerOverrideAbove !== null && refund > policy.managerOverrideAbove) {
    rules.push({
      code: PolicyCodes.MANAGER_OVERRIDE,
      detail: `refund ${refund} is over ${policy.managerOverrideAbove}: a manager must approve`,
    });
    overrideCodes.push(PolicyCodes.MANAGER_OVERRIDE);
  }
  const needsOverride = overrideCodes.length > 0;
  if (needsOverride && input.mode === 'offline') {
    return deny(
      lines,
      PolicyCodes.OVERRIDE_UNAVAILABLE_OFFLINE,
      'a manager override is needed, which only the hub can record',
    );
  }

  // tenders
  const tenders: TenderKind[] = input.noReceipt
    ? ['store_credit']
    : allowedTenders(policy, tenderKinds, channel, refund);
  if (tenders.length === 1 && tenders[0] === 'store_credit' && !conditions.has(PolicyCodes.STORE_CREDIT_ONLY)) {
    conditions.add(PolicyCodes.STORE_CREDIT_ONLY);
    rules.push({ code: PolicyCodes.STORE_CREDIT_ONLY, detail: 'refund to store credit only' });
  }

  // exchange
  const exchange = (input.exchange ?? []).map((e) => {
    if (input.mode === 'offline')
      return { sku: e.sku, qty: e.qty, approvedQty: 0, code: PolicyCodes.EXCHANGE_UNAVAILABLE_OFFLINE };
    const ok = (e.availableMilli ?? 0) >= toMilli(e.qty);
    return { sku: e.sku, qty: e.qty, approvedQty: ok ? e.qty : 0, code: ok ? LineCodes.OK : PolicyCodes.OUT_OF_STOCK };
  });
  for (const e of exchange) {
    if (e.code !== LineCodes.OK) {
      rules.push({ code: e.code, detail: `exchange ${e.sku} × ${e.qty}: ${e.code}` });
      conditions.add('exchange_unavailable');
    }
  }

  let decision: GradedDecision = 'approved';
  if (needsOverride && !input.overridden) {
    decision = 'override_required';
    // The lines it holds say why they wait for a manager: the first rule that asks for one.
    for (const l of lines) if (l.code === LineCodes.OK) l.code = overrideCodes[0] as LineCode;
  } else if (conditions.size > 0) decision = 'conditional';
  if (needsOverride && input.overridden) rules.push({ code: PolicyCodes.OVERRIDDEN, detail: 'a manager overrode' });

  const refusedLines = lines.filter((l) => l.approvedMilli === 0);
  const out: Evaluation = {
    decision,
    lines,
    grossRefund: gross,
    fees,
    refundAmount: refund,
    allowedTenders: tenders,
    conditions: [...conditions],
    rules,
    exchange,
  };
  const reasons = [
    ...refusedLines.map((l) => `line ${l.line || l.askedBySku}: ${l.code}`),
    ...rules.filter((r) => r.line === undefined && r.code !== PolicyCodes.OVERRIDDEN).map((r) => r.detail),
  ];
  if (reasons.length > 0) out.reason = [...new Set(reasons)].join('; ');
  return out;
}

/** The codes of the rules that shaped one line: its own, and those of the whole return. */
export function lineRules(rules: readonly { code: string; line?: number | undefined }[], line: number): string[] {
  return [...new Set(rules.filter((r) => r.line === undefined || r.line === line).map((r) => r.code))];
}

/**
 * The lines of a decision as a register sees them: the approved quantity and its code, what the
 * line refunds (after its restocking fee) and the fee, and every rule that shaped it.
 */
export function decisionLinesOf(ev: Pick<Evaluation, 'lines' | 'rules'>): DecisionLine[] {
  return ev.lines.map((l) => {
    const out: DecisionLine = { line: l.line, approvedQty: fromMilli(l.approvedMilli), code: l.code };
    if (l.askedBySku !== undefined) out.sku = l.askedBySku;
    if (l.approvedMilli > 0) {
      out.refund = l.amount - l.fee;
      if (l.fee > 0) out.fee = l.fee;
    }
    const codes = lineRules(ev.rules, l.line);
    if (codes.length > 0) out.rules = codes;
    return out;
  });
}

function exchangeDenied(input: EvaluationInput, code: string): Evaluation['exchange'] {
  return (input.exchange ?? []).map((e) => ({ sku: e.sku, qty: e.qty, approvedQty: 0, code }));
}

/** The UTC day of `ms` as YYYY-MM-DD: daily limits count per UTC day. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
