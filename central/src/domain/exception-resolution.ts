import type { HubStorage, Statement } from '../storage/index.js';
import { fromMilli, TbCodes, TbError } from '@tillbridge/shared';
import type { AuditLog } from './audit-log.js';
import { HubEvents } from './hub-events.js';
import { iso, type Clock } from './clock.js';
import type { ExceptionRow } from './exceptions.js';
import type { InventoryLedger } from './inventory-ledger.js';
import type { ReturnRow, ReturnsRepo } from './returns-repo.js';
import type { Sales } from './sales.js';

export type Resolution = 'accept' | 'reverse';

/** A stock movement a reversal made (qty in units, negative: taken out). */
interface MovedStock {
  sku: string;
  qty: number;
}

export interface ResolveResult {
  resolved: string[];
  authorization: string | null;
  moved: MovedStock[];
}

/** Who settled a ticket's exceptions, when and why. */
type ResolutionStamp = Pick<ReturnRow, 'resolved_at' | 'resolved_by' | 'resolution_note' | 'updated_at'>;

/**
 * An operator settles an exception: `accept` keeps what happened (the over-return stands, noted);
 * `reverse` undoes a flagged return — a reservation is released, a completed return's restock and
 * exchange movements are moved back — and the ticket says `reversed`. Audited with the operator.
 */
export class ExceptionResolution {
  private readonly byId: Statement;
  private readonly openByAuth: Statement;
  private readonly mark: Statement;

  constructor(
    private readonly storage: HubStorage,
    private readonly returns: ReturnsRepo,
    private readonly sales: Sales,
    private readonly ledger: InventoryLedger,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly events: HubEvents,
  ) {
    this.byId = storage.db.prepare(`SELECT * FROM exceptions WHERE id = ?`);
    this.openByAuth = storage.db.prepare(
      `SELECT * FROM exceptions WHERE authorization = ? AND resolved_at IS NULL ORDER BY created_at`,
    );
    this.mark = storage.db.prepare(`UPDATE exceptions SET resolved_at = ?, resolution = ? WHERE id = ?`);
  }

  /** `id`: an exception id, or the authorization of a flagged return (all its open exceptions). */
  resolve(id: string, action: Resolution, note: string, actor: string): ResolveResult {
    return this.storage.tx(() => {
      const open = this.openExceptions(id);
      const [first] = open;
      const authorization = first.authorization;
      const now = iso(this.clock.now());
      const stamp: ResolutionStamp = { resolved_at: now, resolved_by: actor, resolution_note: note, updated_at: now };
      let moved: MovedStock[] = [];
      if (action === 'reverse') moved = this.reverse(authorization, stamp);
      else if (authorization) this.accept(authorization, stamp);
      for (const e of open) this.mark.run(now, JSON.stringify({ action, note, by: actor }), e.id);
      this.audit.append({
        actor,
        action: 'exception.resolve',
        outcome: action,
        store: first.store,
        register: first.register,
        resource: authorization ? `return:${authorization}` : `exception:${first.id}`,
        details: { exceptions: open.map((e) => ({ id: e.id, code: e.code })), note, moved },
      });
      const resolved = {
        exceptions: open.map((e) => ({ id: e.id, code: e.code, kind: e.kind })),
        action,
        note,
        by: actor,
        moved,
      };
      if (authorization) this.events.returnChanged('return.resolved', authorization, { resolution: resolved });
      else
        this.events.emit('return.resolved', first.store, () => ({
          store: first.store,
          register: first.register,
          authorization: null,
          resolution: resolved,
        }));
      return { resolved: open.map((e) => e.id), authorization, moved };
    });
  }

  /** The open exceptions `id` names (an exception, or a flagged return's); at least one, else it throws. */
  private openExceptions(id: string): [ExceptionRow, ...ExceptionRow[]] {
    const one = this.byId.get(id) as ExceptionRow | undefined;
    const list = one ? [one] : (this.openByAuth.all(id) as ExceptionRow[]);
    if (list.length === 0)
      throw new TbError(
        TbCodes.NOT_FOUND,
        `no exception or flagged return "${id}" (list them: tillbridge-hub returns exceptions)`,
      );
    const [first, ...rest] = list.filter((e) => e.resolved_at === null);
    if (!first) throw new TbError(TbCodes.CONFLICT, `exception ${id} was already resolved`);
    return [first, ...rest];
  }

  /** Keeps what happened: the ticket says it was accepted. */
  private accept(authorization: string, stamp: ResolutionStamp): void {
    const r = this.returns.get(authorization);
    if (r) this.returns.update({ ...r, resolution: 'accept', ...stamp });
  }

  /** Undoes a flagged return: a completed one's stock movements are moved back, a reservation released. */
  private reverse(authorization: string | null, stamp: ResolutionStamp): MovedStock[] {
    if (!authorization)
      throw new TbError(
        TbCodes.INVALID,
        'only a flagged return can be reversed; use --action accept for this exception',
      );
    const r = this.returns.get(authorization);
    if (!r) throw new TbError(TbCodes.NOT_FOUND, `return ${authorization} is not known at the hub: nothing to reverse`);
    if (r.status === 'completed') {
      const moved = this.moveBack(r);
      this.returns.update({ ...r, status: 'reversed', resolution: 'reverse', ...stamp });
      return moved;
    }
    if (r.status === 'reserved' || r.status === 'expired') {
      this.returns.update({ ...r, status: 'cancelled', resolution: 'reverse', ...stamp });
      return [];
    }
    throw new TbError(TbCodes.AUTHORIZATION_STATE, `return ${authorization} is ${r.status}: nothing to reverse`);
  }

  /** A completed return's restocked lines taken out of stock again, and its exchanged items put back. */
  private moveBack(r: ReturnRow): MovedStock[] {
    const authorization = r.authorization;
    const moved: MovedStock[] = [];
    const skus = new Map(this.sales.ofReturn(r)?.lines.map((l) => [l.line, l.sku]) ?? []);
    for (const l of this.returns.lines(authorization)) {
      const sku = skus.get(l.line) ?? l.asked_sku;
      if (sku && l.disposition === 'restock' && l.completed_qty > 0) {
        this.ledger.move(r.store, sku, -l.completed_qty, 'adjustment', `reverse:${authorization}`);
        moved.push({ sku, qty: -fromMilli(l.completed_qty) });
      }
    }
    for (const e of this.returns.exchanges(authorization)) {
      if (e.approved_qty > 0) {
        this.ledger.move(r.store, e.sku, e.approved_qty, 'adjustment', `reverse:${authorization}`);
        moved.push({ sku: e.sku, qty: fromMilli(e.approved_qty) });
      }
    }
    return moved;
  }
}
