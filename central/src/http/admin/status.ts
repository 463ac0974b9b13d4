import { TbCodes, TbError } from '@tillbridge/shared';
import type { Hub } from '../../hub-services.js';
import type { Router } from '../router.js';
import { authorize } from './common.js';

function accuracyOf(hub: Hub, store: string): { ratio: number; skus: number; matching: number; at: string } | null {
  const a = hub.accuracy.get(store);
  return a ? { ratio: a.ratio, skus: a.skus, matching: a.matching, at: a.at } : null;
}

/** Per store: connection, lag, outbox, policy and settings versions, inventory accuracy, terminals. */
export function statusRoutes(router: Router, hub: Hub): void {
  router.add('GET', '/v1/admin/status', (ctx) => {
    authorize(hub, ctx, false);
    const now = hub.clock.now();
    const only = ctx.query.get('store');
    if (only && !hub.stores.get(only)) throw new TbError(TbCodes.NOT_FOUND, `store ${only} not found`);
    const endpoints = hub.webhooks.list();
    return {
      now: new Date(now).toISOString(),
      webhooks: { endpoints: endpoints.length, disabled: hub.webhooks.disabledEndpoints() },
      connectedStores: hub.presence.count(),
      authorizations: hub.authzStats.rate(only ?? undefined),
      stores: hub.stores.list().filter((s) => !only || s.id === only).map((s) => {
        const p = hub.presence.get(s.id);
        const c = hub.cursors.latestForStore(s.id);
        return {
          store: s.id,
          name: s.name,
          connected: p.connected,
          since: p.since ? new Date(p.since).toISOString() : null,
          lastSeen: p.connected ? new Date(p.lastFrameMs ?? now).toISOString() : s.last_seen_at,
          lagMs: p.connected ? (p.oldestAgeMs ?? 0) : null,
          outboxDepth: p.connected ? (p.outboxDepth ?? null) : null,
          lastSeq: c?.lastSeq ?? 0,
          policy: { version: hub.policies.effective(s.id).version, agentHolds: p.policyVersion ?? null },
          settings: { version: hub.syncConfig.effective(s.id).version, agentRuns: p.configVersion ?? null },
          inventoryAccuracy: accuracyOf(hub, s.id),
          authorizations: hub.authzStats.rate(s.id),
          agentId: c?.agentId ?? null,
          registers: p.connected ? (p.registers ?? []) : [],
          terminals: hub.terminals.list(s.id).map((t) => ({
            register: t.register,
            state: t.state,
            detail: t.detail,
            transport: t.transport,
            connections: t.connections,
            reported: t.reported_state ? { state: t.reported_state, detail: t.reported_detail, at: t.reported_at } : null,
            lastMessageAt: t.last_message_at,
            at: t.at,
          })),
        };
      }),
    };
  });
}
