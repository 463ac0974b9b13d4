import { fromMilli, toMilli } from '@tillbridge/shared';
import type { InventoryLedger } from '../domain/inventory-ledger.js';
import type { ImportRequest, Imports } from '../imports/imports.js';
import { inventoryImport, type InventoryImportDeps } from '../imports/inventory-import.js';
import { salesImport, type SalesImportDeps } from '../imports/sales-import.js';
import type { AuditedWork } from './unit-of-work.js';

export interface InventoryUseCaseDeps extends AuditedWork {
  ledger: Pick<InventoryLedger, 'setOnHand'>;
}

/** What an operator's stock setting did: the on-hand it set (units) and what it moved. */
export interface OnHandSet {
  store: string;
  sku: string;
  onHand: number;
  delta: number;
}

/** Inventory set by an operator: the adjustment movement and its audit entry, one transaction. */
export class InventoryUseCases {
  constructor(private readonly deps: InventoryUseCaseDeps) {}

  /**
   * Sets the store's on-hand for a SKU (`qty` in units); what it moved. The movement's reference is the actor, as the
   * audit entry's. The change reaches the agent once committed.
   */
  setOnHand(actor: string, store: string, sku: string, qty: number): OnHandSet {
    const { uow, ledger, audit } = this.deps;
    return uow.tx(() => {
      const delta = ledger.setOnHand(store, sku, toMilli(qty), actor);
      audit.append({
        actor,
        action: 'inventory.set',
        outcome: 'set',
        store,
        resource: `inventory:${store}/${sku}`,
        details: { qty, delta: fromMilli(delta) },
      });
      return { store, sku, onHand: qty, delta: fromMilli(delta) };
    });
  }
}

export interface ImportUseCaseDeps extends InventoryImportDeps, SalesImportDeps {
  imports: Pick<Imports, 'run'>;
}

/**
 * Large admin imports (inventory CSV, sales JSON lines): checked whole before anything is applied,
 * then applied in chunks — the import runner (imports/imports.ts) owns each chunk's transaction
 * and its audit entry.
 */
export class ImportUseCases {
  constructor(private readonly deps: ImportUseCaseDeps) {}

  inventory(req: ImportRequest): Promise<Record<string, unknown>> {
    return this.deps.imports.run(inventoryImport(this.deps), req);
  }

  sales(req: ImportRequest): Promise<Record<string, unknown>> {
    return this.deps.imports.run(salesImport(this.deps), req);
  }
}
