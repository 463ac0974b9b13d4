import { fromMilli, LineCodes, toMilli, type Policy, type ReturnDecisionEventBody } from '@tillbridge/shared';
import type { AuditLog } from './audit-log.js';
import { HubEvents } from './hub-events.js';
import { iso, type Clock } from './clock.js';
import type { Exceptions } from './exceptions.js';
import type { Policies } from './policies.js';
import { ExceptionCodes, Refusal } from './refusal.js';
import { EMPTY_TICKET, storedLine } from './return-ticket.js';
import type { ReturnsEngine } from './returns-engine.js';
import type { NewReturnLine, ReturnRow, ReturnsRepo } from './returns-repo.js';
import type { Sales } from './sales.js';

/** Which reconciliation exception a hub-side line or rule code means. */
function exceptionFor(code: string): string {
  switch (code) {
    case LineCodes.EXCEEDS_RETURNABLE:
      return ExceptionCodes.OVER_RETURN;
    case LineCodes.RECEIPT_NOT_FOUND:
    case LineCodes.LINE_NOT_FOUND:
      return ExceptionCodes.RECEIPT_NOT_FOUND;
    case 'max_refund_exceeded':
    case 'store_daily_limit':
    case 'manager_override_required':
      return 'limit_exceeded';
    default:
      return code; // outside_window, non_returnable, receipt_required, no_receipt_limit…
  }
}

/** An offline decision as the hub judges it (see `OfflineReconciler.verdict`). */
interface Verdict {
  approved: boolean;
  /** when the decision was made (not after the hub heard of it) */
  asOf: number;
  /** the policy version it was judged by */
  version: number;
  policy: Policy;
  found: ReturnType<Sales['resolve']>;
  exception: string | undefined;
  problem: string;
}

/** The ticket's lines as the agent decided them. */
function ticketLines(body: ReturnDecisionEventBody): NewReturnLine[] {
  return body.lines.map((l, i) => ({
    line: storedLine(l.line, i),
    asked_sku: l.sku ?? null,
    requested_qty: toMilli(l.qty),
    approved_qty: toMilli(l.approvedQty),
    completed_qty: 0,
    disposition: l.disposition,
    code: l.code,
    reason: l.reason ?? null,
    // what the agent authorized the line to refund (an older agent does not say)
    amount: l.refund !== undefined ? l.refund + (l.fee ?? 0) : null,
    fee: l.refund !== undefined ? (l.fee ?? 0) : null,
  }));
}

/**
 * An agent's offline decision, reconciled against the authoritative state (DESIGN rule 10): the
 * hub judges the same request as of when it was made — the window and the store's refunds that
 * day at the decision's time, by the policy version the agent applied — and against what is left
 * to return now (every store's and channel's returns: returns never exceed sales). A denial is
 * recorded as such. An approval is `confirmed` when the hub would approve at least what the agent
 * did, and is otherwise kept and flagged as an exception with the code of what the agent could
 * not see or got wrong (over_return, outside_window, non_returnable, limit_exceeded,
 * receipt_not_found…), naming the decision's time and the policy version it was judged by —
 * never dropped, never blocking the queue.
 */
export class OfflineReconciler {
  constructor(
    private readonly sales: Sales,
    private readonly returns: ReturnsRepo,
    private readonly engine: ReturnsEngine,
    private readonly policies: Policies,
    private readonly exceptions: Exceptions,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly events: HubEvents,
  ) {}

  apply(store: string, register: string, body: ReturnDecisionEventBody): { exception?: string } {
    const now = this.clock.now();
    const existing = this.returns.get(body.authorization);
    if (existing && existing.store !== store)
      throw new Refusal(ExceptionCodes.WRONG_STORE, 'that authorization belongs to another store', body.authorization);
    // already reconciled (the same decision, resent under a new id)
    if (existing?.mode === 'offline') return {};

    const verdict = this.verdict(store, body, now);
    const row = this.ticketRow(store, register, body, verdict, existing, now);
    // The hub's online answer came too late: the register acted on the offline decision, which replaces it.
    const lines = ticketLines(body);
    if (existing) this.returns.replace(row, lines);
    else this.returns.insert(row, lines);
    this.audit.append({
      actor: `store:${store}`,
      action: 'return.authorize',
      outcome: body.decision,
      store,
      register,
      resource: `return:${body.authorization}`,
      details: {
        mode: 'offline',
        receipt: body.receipt ?? null,
        refund: body.refundEstimate,
        decidedAt: body.decidedAt,
        policyVersion: body.policyVersion,
        judgedBy: verdict.version,
        replacedOnline: Boolean(existing),
        reconciliation: row.reconciliation,
        rules: body.rules.map((r) => r.code),
      },
    });
    this.events.decided(body.authorization, body.decision);
    if (verdict.exception === undefined) return {};
    this.flag(store, register, body, { ...verdict, exception: verdict.exception });
    return { exception: verdict.exception };
  }

  /** The decision judged as of when it was made, by the policy version the agent applied (else the one in force). */
  private verdict(store: string, body: ReturnDecisionEventBody, now: number): Verdict {
    const approved = body.decision === 'approved' || body.decision === 'conditional';
    // As of the decision; a decision cannot have been made after it reached the hub (a fast agent clock).
    const asOf = Math.min(Date.parse(body.decidedAt), now);
    const agentVersion = body.policyVersion;
    const { version, policy } = this.policies.asOf(store, agentVersion) ?? this.policies.inForceAt(store, iso(asOf));
    const judgedBy =
      version === agentVersion
        ? `policy version ${version}`
        : `policy version ${version} (the agent's version ${agentVersion} is not one this store had)`;
    // the sale, as the agent found it: the one the register named the store of, else this store's own
    const found = body.receipt !== undefined ? this.sales.resolve(body.receipt, store, body.originalStore) : {};
    let exception: string | undefined;
    let problem = '';
    if (approved) ({ exception, problem } = this.judge(store, body, policy, found, now, asOf));
    if (exception) problem = `${problem} — decided offline at ${iso(asOf)}, judged by ${judgedBy}`;
    return { approved, asOf, version, policy, found, exception, problem };
  }

  /** The ticket the decision makes (replacing the hub's own when its online answer came too late). */
  private ticketRow(
    store: string,
    register: string,
    body: ReturnDecisionEventBody,
    verdict: Verdict,
    existing: ReturnRow | undefined,
    now: number,
  ): ReturnRow {
    const { approved, exception, problem } = verdict;
    return {
      ...EMPTY_TICKET,
      authorization: body.authorization,
      store,
      register,
      request_id: body.requestId,
      receipt: body.receipt ?? '',
      sale_store: verdict.found.sale?.store ?? null,
      mode: 'offline',
      decision: body.decision,
      status: approved ? 'reserved' : 'denied',
      reconciliation: approved ? (exception ? 'exception' : 'confirmed') : null,
      exception_code: exception ?? null,
      reason: exception ? problem : (body.reason ?? null),
      refund_amount: body.refundEstimate,
      created_at: existing?.created_at ?? iso(verdict.asOf),
      // the quantities are held from when the hub hears of them
      expires_at: approved ? iso(now + verdict.policy.reservationMinutes * 60_000) : null,
      updated_at: iso(now),
      rules: JSON.stringify(body.rules),
      allowed_tenders: JSON.stringify(body.allowedTenders),
      conditions: JSON.stringify(body.conditions),
      policy_version: body.policyVersion,
      late_online: existing ? 1 : 0,
      request: JSON.stringify({
        receipt: body.receipt,
        ...(body.originalStore !== undefined ? { originalStore: body.originalStore } : {}),
        lines: body.lines,
      }),
    };
  }

  /** An approval the hub would not have made: kept, recorded as an exception and audited. */
  private flag(
    store: string,
    register: string,
    body: ReturnDecisionEventBody,
    verdict: Verdict & { exception: string },
  ): void {
    const { exception, problem } = verdict;
    this.exceptions.record({
      store,
      register,
      kind: 'return.decision',
      code: exception,
      reason: problem,
      authorization: body.authorization,
      body: { decidedAt: iso(verdict.asOf), policyVersion: verdict.version, agentPolicyVersion: body.policyVersion },
    });
    this.audit.append({
      actor: 'hub',
      action: 'return.exception',
      outcome: exception,
      store,
      register,
      resource: `return:${body.authorization}`,
      details: { reason: problem },
    });
  }

  /**
   * An approved offline decision judged again at the hub, as of when it was made: what it gets
   * wrong (an exception code and why), if anything.
   */
  private judge(
    store: string,
    body: ReturnDecisionEventBody,
    policy: Policy,
    found: ReturnType<Sales['resolve']>,
    now: number,
    asOf: number,
  ): { exception?: string; problem: string } {
    let exception: string | undefined;
    let problem = '';
    const request = {
      receipt: body.receipt,
      lines: body.lines.map((l) =>
        l.line > 0
          ? { line: l.line, qty: l.qty, disposition: l.disposition }
          : { sku: l.sku ?? '', qty: l.qty, disposition: l.disposition },
      ),
    };
    const ctx = { sale: found.sale };
    if (found.ambiguous) {
      exception = ExceptionCodes.RECEIPT_AMBIGUOUS;
      problem =
        `receipt ${body.receipt} was not sold at ${store} and ` +
        `was issued at stores ${found.ambiguous.map((a) => a.store).join(', ')}`;
    } else if (body.receipt && !ctx.sale) {
      exception = ExceptionCodes.RECEIPT_NOT_FOUND;
      problem =
        `receipt ${body.receipt}${body.originalStore !== undefined ? ` of store ${body.originalStore}` : ''} ` +
        `is not known at the hub`;
    } else {
      const ev = this.engine.evaluate(store, request, policy, ctx, now, body.authorization, false, asOf);
      const hubLines = new Map(ev.lines.map((l) => [l.line, l]));
      const short = body.lines.filter(
        (l) => l.approvedQty > 0 && toMilli(l.approvedQty) > (hubLines.get(l.line)?.approvedMilli ?? 0),
      );
      const [firstShort] = short;
      if (firstShort) {
        const first = hubLines.get(firstShort.line);
        exception = exceptionFor(
          first?.code && first.code !== LineCodes.OK
            ? first.code
            : (ev.rules.find((r) => r.line === undefined)?.code ?? LineCodes.EXCEEDS_RETURNABLE),
        );
        problem = short
          .map(
            (l) =>
              `line ${l.line}: approved offline ${l.approvedQty}, ` +
              `the hub allows ${fromMilli(hubLines.get(l.line)?.approvedMilli ?? 0)} ` +
              `(${hubLines.get(l.line)?.code ?? 'not found'})`,
          )
          .join('; ');
      } else if (ev.decision === 'override_required' || ev.decision === 'denied') {
        const rule = ev.rules.find((r) => r.code !== 'restocking_fee') ?? {
          code: 'limit_exceeded',
          detail: ev.reason ?? '',
        };
        exception = exceptionFor(rule.code);
        problem = rule.detail;
      } else {
        // Money never grows: with the other returns of the line the hub knows, what is left of what was paid.
        const overpaid = body.lines.filter(
          (l) =>
            l.refund !== undefined &&
            l.approvedQty > 0 &&
            l.refund + (l.fee ?? 0) > (hubLines.get(l.line)?.amount ?? 0),
        );
        if (overpaid.length > 0) {
          exception = ExceptionCodes.OVER_REFUND;
          problem = overpaid
            .map(
              (l) =>
                `line ${l.line}: refunds ${(l.refund ?? 0) + (l.fee ?? 0)} before fees offline; ` +
                `what is left of what was paid for it is ${hubLines.get(l.line)?.amount ?? 0}`,
            )
            .join('; ');
        }
      }
    }
    return exception === undefined ? { problem } : { exception, problem };
  }
}
