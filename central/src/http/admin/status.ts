import { TbCodes, TbError } from '@tillbridge/shared';
import type { AdminApi, AdminQueries } from '../../usecases/index.js';
import type { Router } from '../router.js';
import { authorize } from './common.js';
import { hubStatus } from '../contract/status.js';
import { agentViewOf } from './stores.js';

function accuracyOf(
  q: AdminQueries,
  store: string,
): { ratio: number; skus: number; matching: number; at: string } | null {
  const a = q.accuracy.get(store);
  return a ? { ratio: a.ratio, skus: a.skus, matching: a.matching, at: a.at } : null;
}

/** Per store: connection, lag, outbox, policy and settings versions, inventory accuracy, terminals. */
export function statusRoutes(router: Router, api: AdminApi): void {
  const q = api.queries;
  router.serve(hubStatus, (ctx) => {
    authorize(api, ctx, false);
    const now = q.clock.now();
    const only = ctx.query.get('store');
    if (only && !q.stores.get(only)) throw new TbError(TbCodes.NOT_FOUND, `store ${only} not found`);
    const endpoints = q.webhooks.list();
    const minAgentVersion = q.agentVersions.get();
    return {
      minAgentVersion,
      now: new Date(now).toISOString(),
      webhooks: { endpoints: endpoints.length, disabled: q.webhooks.disabledEndpoints() },
      feedRelay: q.feedRelay.status(),
      feed: { head: q.erpFeed.head(), consumers: q.erpFeed.consumers() },
      connectedStores: q.presence.count(),
      authorizations: q.authzStats.rate(only ?? undefined),
      stores: q.stores
        .list()
        .filter((s) => !only || s.id === only)
        .map((s) => {
          const p = q.presence.get(s.id);
          const c = q.cursors.latestForStore(s.id);
          return {
            store: s.id,
            name: s.name,
            connected: p.connected,
            since: p.since ? new Date(p.since).toISOString() : null,
            lastSeen: p.connected ? new Date(p.lastFrameMs ?? now).toISOString() : s.last_seen_at,
            lagMs: p.connected ? (p.oldestAgeMs ?? 0) : null,
            outboxDepth: p.connected ? (p.outboxDepth ?? null) : null,
            lastSeq: c?.lastSeq ?? 0,
            policy: { version: q.policies.effective(s.id).version, agentHolds: p.policyVersion ?? null },
            settings: { version: q.syncConfig.effective(s.id).version, agentRuns: p.configVersion ?? null },
            inventoryAccuracy: accuracyOf(q, s.id),
            authorizations: q.authzStats.rate(s.id),
            agentId: c?.agentId ?? null,
            agent: p.connected ? agentViewOf(p.agent, minAgentVersion, now) : null,
            registers: p.connected ? (p.registers ?? []) : [],
            terminals: q.terminals.list(s.id).map((t) => ({
              register: t.register,
              kind: t.kind ?? 'register',
              codec: t.codec,
              feeds: t.feeds,
              state: t.state,
              detail: t.detail,
              transport: t.transport,
              connections: t.connections,
              reported: t.reported_state
                ? { state: t.reported_state, detail: t.reported_detail, at: t.reported_at }
                : null,
              lastMessageAt: t.last_message_at,
              at: t.at,
            })),
          };
        }),
    };
  });
}
