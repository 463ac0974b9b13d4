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
  // any value is a kind (what an object prints as does not matter: it is no kind a refund goes to)
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- see above
  const kinds = tenders.map((t) => String(t.kind ?? '').toLowerCase());
  return [...new Set(kinds.filter(Boolean))];
}

/**
 * Whether a refund to `kind` (as the register wrote it: `Card`, `CASH`…) goes to one of the tenders a decision
 * allowed; kinds are compared without regard to case, as `tenderKindsOf` and day reconciliation read them. Nothing
 * allowed (an older decision that did not say) allows any kind.
 */
export function refundKindAllowed(allowed: readonly string[], kind: string): boolean {
  return allowed.length === 0 || allowed.includes(kind.toLowerCase());
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

/** What is being judged, and what the judging has found so far. */
interface Judging {
  input: EvaluationInput;
  policy: Policy;
  rules: FiredRule[];
  conditions: Set<string>;
  /** the codes of the rules that need a manager, first one first */
  overrideCodes: string[];
}

/** The lines to refund and how the sale was paid, or the denial that ends the judging. */
type LinesOrDenial = { lines: EvaluatedLine[]; tenderKinds: string[]; channel: string } | { denied: Evaluation };

/** A denial that leaves `lines` as they are and refunds nothing. */
function deniedAs(j: Judging, lines: EvaluatedLine[], exchangeCode: string, reason: string): Evaluation {
  return {
    decision: 'denied',
    lines,
    grossRefund: 0,
    fees: 0,
    refundAmount: 0,
    allowedTenders: [],
    conditions: [],
    rules: j.rules,
    exchange: exchangeDenied(j.input, exchangeCode),
    reason,
  };
}

/** A denial by the rule `code`: every line approves nothing, and the lines not refused already take the code. */
function deny(j: Judging, lines: EvaluatedLine[], code: string, detail: string): Evaluation {
  j.rules.push({ code, detail });
  const refused = lines.map((l) => ({
    ...l,
    approvedMilli: 0,
    amount: 0,
    fee: 0,
    code: l.code === LineCodes.OK ? (code as LineCode) : l.code,
  }));
  return deniedAs(j, refused, code, detail);
}

/** The requested lines as they are before any judging (nothing approved). */
function unjudgedLines(input: EvaluationInput): EvaluatedLine[] {
  return input.requested.map((r) => ({
    line: r.line ?? 0,
    ...(r.sku !== undefined ? { askedBySku: r.sku } : {}),
    requestedMilli: toMilli(r.qty),
    approvedMilli: 0,
    code: LineCodes.OK,
    amount: 0,
    fee: 0,
  }));
}

/** A return without a receipt: each line by sku at the price it names, for store credit with identity checked. */
function judgeWithoutReceipt(j: Judging): LinesOrDenial {
  const { input, policy } = j;
  const lines: EvaluatedLine[] = input.requested.map((r) => ({
    line: r.line ?? 0,
    ...(r.sku !== undefined ? { askedBySku: r.sku, sku: r.sku } : {}),
    requestedMilli: toMilli(r.qty),
    approvedMilli: toMilli(r.qty),
    code: LineCodes.OK,
    unitPrice: r.unitPrice ?? 0,
    amount: 0,
    fee: 0,
  }));
  if (input.mode === 'offline' && policy.offline.receiptRequired) {
    const detail = 'offline, a return needs a receipt sold at this store';
    return { denied: deny(j, lines, PolicyCodes.OFFLINE_RECEIPT_REQUIRED, detail) };
  }
  if (policy.receipt.required)
    return { denied: deny(j, lines, PolicyCodes.RECEIPT_REQUIRED, 'this store requires a receipt for returns') };
  if (lines.some((l) => l.sku === undefined || input.requested.find((r) => r.sku === l.sku)?.unitPrice === undefined)) {
    const detail = 'a return without a receipt names each item by sku with its unitPrice';
    return { denied: deny(j, lines, PolicyCodes.RECEIPT_REQUIRED, detail) };
  }
  j.conditions.add(PolicyCodes.STORE_CREDIT_ONLY);
  j.conditions.add(PolicyCodes.ID_REQUIRED);
  j.rules.push({ code: PolicyCodes.STORE_CREDIT_ONLY, detail: 'no receipt: store credit only, identity checked' });
  return { lines, tenderKinds: [], channel: 'store' };
}

/** A return against a sale: what is left of each line, and whether the sale is still within the window. */
function judgeAgainstSale(j: Judging): LinesOrDenial {
  const { input, policy } = j;
  const judged = judgeReturn(
    input.sale?.lines,
    input.claimed,
    input.requested,
    input.notFoundCode ?? LineCodes.RECEIPT_NOT_FOUND,
  );
  const lines = judged.lines.map((l) => ({ ...l, amount: 0, fee: 0 }));
  if (!input.sale) {
    const code = lines[0]?.code ?? LineCodes.RECEIPT_NOT_FOUND;
    const reason = judged.reason ?? 'receipt not found';
    j.rules.push({ code, detail: reason });
    return { denied: deniedAs(j, lines, code, reason) };
  }
  for (const l of lines)
    if (l.code !== LineCodes.OK) j.rules.push({ code: l.code, detail: `line ${l.line}: ${l.code}`, line: l.line });

  const ageDays = (input.now - Date.parse(input.sale.at)) / DAY;
  if (ageDays > policy.returnWindowDays) {
    const detail = `sold ${Math.floor(ageDays)} days ago; the window is ${policy.returnWindowDays} days`;
    if (!policy.windowOverridable) return { denied: deny(j, lines, PolicyCodes.OUTSIDE_WINDOW, detail) };
    j.rules.push({ code: PolicyCodes.OUTSIDE_WINDOW, detail });
    j.overrideCodes.push(PolicyCodes.OUTSIDE_WINDOW);
  }
  return { lines, tenderKinds: input.sale.tenderKinds, channel: input.sale.channel };
}

function refuseNonReturnable(j: Judging, lines: EvaluatedLine[]): void {
  for (const l of lines) {
    if (l.code === LineCodes.OK && l.sku !== undefined && nonReturnable(j.policy, l.sku)) {
      l.code = PolicyCodes.NON_RETURNABLE as LineCode;
      l.approvedMilli = 0;
      j.rules.push({ code: PolicyCodes.NON_RETURNABLE, detail: `${l.sku} is not returnable`, line: l.line });
    }
  }
}

/**
 * Sets each approved line's amount and restocking fee; the totals. A receipt's line refunds what everything
 * returned of it so far is worth minus what was already refunded for it (never each return rounded on its own).
 */
function priceLines(j: Judging, lines: EvaluatedLine[]): { gross: number; fees: number } {
  const { input } = j;
  let gross = 0;
  let fees = 0;
  for (const l of lines) {
    if (l.approvedMilli === 0) continue;
    const price = l.unitPrice ?? 0;
    const claimed = input.noReceipt ? 0 : (input.claimed.get(l.line) ?? 0);
    const before = { milli: claimed, amount: input.refunded?.get(l.line) ?? lineAmount(claimed, price) };
    const amount = input.noReceipt ? lineAmount(l.approvedMilli, price) : returnAmount(price, before, l.approvedMilli);
    l.amount = amount;
    const pct = l.sku !== undefined ? feePercent(j.policy, l.sku) : 0;
    if (pct > 0) {
      l.fee = Math.round((amount * pct) / 100);
      fees += l.fee;
      j.rules.push({
        code: PolicyCodes.RESTOCKING_FEE,
        detail: `${pct} % restocking fee on ${l.sku}: ${l.fee}`,
        line: l.line,
      });
    }
    gross += amount;
  }
  return { gross, fees };
}

/** The refund against the limits: a denial for a hard limit, a rule needing a manager for the others. */
function applyLimits(j: Judging, lines: EvaluatedLine[], refund: number): Evaluation | undefined {
  const { input, policy } = j;
  if (input.noReceipt && refund > policy.receipt.noReceiptMaxRefund) {
    return deny(
      j,
      lines,
      PolicyCodes.NO_RECEIPT_LIMIT,
      `refund ${refund} without a receipt is over the limit of ${policy.receipt.noReceiptMaxRefund}`,
    );
  }
  if (policy.maxRefundPerReturn !== null && refund > policy.maxRefundPerReturn) {
    return deny(
      j,
      lines,
      PolicyCodes.MAX_REFUND_EXCEEDED,
      `refund ${refund} is over the limit of ${policy.maxRefundPerReturn} per return`,
    );
  }
  if (input.mode === 'offline') {
    const overOffline = applyOfflineLimits(j, lines, refund);
    if (overOffline) return overOffline;
  }
  if (policy.maxRefundPerStorePerDay !== null && input.approvedToday.store + refund > policy.maxRefundPerStorePerDay) {
    j.rules.push({
      code: PolicyCodes.STORE_DAILY_LIMIT,
      detail:
        `the store approved ${input.approvedToday.store} today; ${refund} more is over ` +
        `${policy.maxRefundPerStorePerDay}`,
    });
    j.overrideCodes.push(PolicyCodes.STORE_DAILY_LIMIT);
  }
  if (policy.managerOverrideAbove !== null && refund > policy.managerOverrideAbove) {
    j.rules.push({
      code: PolicyCodes.MANAGER_OVERRIDE,
      detail: `refund ${refund} is over ${policy.managerOverrideAbove}: a manager must approve`,
    });
    j.overrideCodes.push(PolicyCodes.MANAGER_OVERRIDE);
  }
  return undefined;
}

function applyOfflineLimits(j: Judging, lines: EvaluatedLine[], refund: number): Evaluation | undefined {
  const { input, policy } = j;
  if (refund > policy.offline.maxRefundPerReturn)
    return deny(
      j,
      lines,
      LineCodes.OFFLINE_LIMIT,
      `refund ${refund} is over the offline limit of ${policy.offline.maxRefundPerReturn}`,
    );
  const cap = policy.offline.maxRefundPerRegisterPerDay;
  if (cap !== null && input.approvedToday.register + refund > cap) {
    return deny(
      j,
      lines,
      PolicyCodes.OFFLINE_REGISTER_DAILY_LIMIT,
      `this register approved ${input.approvedToday.register} offline today; ${refund} more is over ${cap}`,
    );
  }
  return undefined;
}

/** Where the refund may go; store credit alone makes the return conditional. */
function refundTenders(j: Judging, sale: { tenderKinds: string[]; channel: string }, refund: number): TenderKind[] {
  const tenders: TenderKind[] = j.input.noReceipt
    ? ['store_credit']
    : allowedTenders(j.policy, sale.tenderKinds, sale.channel, refund);
  if (tenders.length === 1 && tenders[0] === 'store_credit' && !j.conditions.has(PolicyCodes.STORE_CREDIT_ONLY)) {
    j.conditions.add(PolicyCodes.STORE_CREDIT_ONLY);
    j.rules.push({ code: PolicyCodes.STORE_CREDIT_ONLY, detail: 'refund to store credit only' });
  }
  return tenders;
}

/** The items taken in exchange: online, those in stock; offline, none. */
function judgeExchange(j: Judging): Evaluation['exchange'] {
  const { input } = j;
  const exchange = (input.exchange ?? []).map((e) => {
    if (input.mode === 'offline')
      return { sku: e.sku, qty: e.qty, approvedQty: 0, code: PolicyCodes.EXCHANGE_UNAVAILABLE_OFFLINE };
    const ok = (e.availableMilli ?? 0) >= toMilli(e.qty);
    return { sku: e.sku, qty: e.qty, approvedQty: ok ? e.qty : 0, code: ok ? LineCodes.OK : PolicyCodes.OUT_OF_STOCK };
  });
  for (const e of exchange) {
    if (e.code !== LineCodes.OK) {
      j.rules.push({ code: e.code, detail: `exchange ${e.sku} × ${e.qty}: ${e.code}` });
      j.conditions.add('exchange_unavailable');
    }
  }
  return exchange;
}

/** The return that is not denied, graded: approved, conditional or waiting for a manager. */
function graded(
  j: Judging,
  judged: Omit<Evaluation, 'decision' | 'conditions' | 'rules' | 'reason'>,
  needsOverride: boolean,
): Evaluation {
  const { input, rules, conditions } = j;
  let decision: GradedDecision = 'approved';
  if (needsOverride && !input.overridden) {
    decision = 'override_required';
    // The lines it holds say why they wait for a manager: the first rule that asks for one.
    for (const l of judged.lines) if (l.code === LineCodes.OK) l.code = j.overrideCodes[0] as LineCode;
  } else if (conditions.size > 0) decision = 'conditional';
  if (needsOverride && input.overridden) rules.push({ code: PolicyCodes.OVERRIDDEN, detail: 'a manager overrode' });

  const refusedLines = judged.lines.filter((l) => l.approvedMilli === 0);
  const out: Evaluation = {
    decision,
    lines: judged.lines,
    grossRefund: judged.grossRefund,
    fees: judged.fees,
    refundAmount: judged.refundAmount,
    allowedTenders: judged.allowedTenders,
    conditions: [...conditions],
    rules,
    exchange: judged.exchange,
  };
  const reasons = [
    ...refusedLines.map((l) => `line ${l.line || l.askedBySku}: ${l.code}`),
    ...rules.filter((r) => r.line === undefined && r.code !== PolicyCodes.OVERRIDDEN).map((r) => r.detail),
  ];
  if (reasons.length > 0) out.reason = [...new Set(reasons)].join('; ');
  return out;
}

export function evaluateReturn(input: EvaluationInput): Evaluation {
  const j: Judging = { input, policy: input.policy, rules: [], conditions: new Set(), overrideCodes: [] };
  if (input.mode === 'offline' && input.offlineDisabled) {
    const detail = 'offline approvals are switched off for this store: the hub must decide';
    return deny(j, unjudgedLines(input), PolicyCodes.OFFLINE_DISABLED, detail);
  }
  const judged = input.noReceipt ? judgeWithoutReceipt(j) : judgeAgainstSale(j);
  if ('denied' in judged) return judged.denied;
  const { lines } = judged;
  refuseNonReturnable(j, lines);
  const { gross, fees } = priceLines(j, lines);
  const refund = gross - fees;
  if (!lines.some((l) => l.approvedMilli > 0)) {
    const reason = j.rules.map((r) => r.detail).join('; ') || 'no line can be returned';
    return deniedAs(j, lines, 'return_denied', reason);
  }
  const overLimit = applyLimits(j, lines, refund);
  if (overLimit) return overLimit;
  const needsOverride = j.overrideCodes.length > 0;
  if (needsOverride && input.mode === 'offline') {
    const detail = 'a manager override is needed, which only the hub can record';
    return deny(j, lines, PolicyCodes.OVERRIDE_UNAVAILABLE_OFFLINE, detail);
  }
  const allowed = refundTenders(j, judged, refund);
  const exchange = judgeExchange(j);
  const result = { lines, grossRefund: gross, fees, refundAmount: refund, allowedTenders: allowed, exchange };
  return graded(j, result, needsOverride);
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
