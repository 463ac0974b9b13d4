import { X509Certificate } from 'node:crypto';
import { ENROLL_PATH, TbCodes, TbError, type EnrollAnswer } from '@tillbridge/shared';
import { sourceOf } from '../auth/gate.js';
import { DEFAULT_ENROLLMENT_TTL_MS } from '../enrollment/enrollments.js';
import type { AdminApi } from '../usecases/index.js';
import type { Router } from './router.js';
import { actorOf, authorize, storeParam } from './admin/common.js';
import { createEnrollment, listEnrollments } from './contract/stores.js';

/** The SHA-256 fingerprint of a PEM certificate (the first of a chain: the leaf), as `AB:CD:…`. */
export function certFingerprint(pem: Buffer | string): string {
  return new X509Certificate(pem).fingerprint256;
}

/**
 * Enrollment (docs/install.md "Enrolling a store"):
 * - `POST /v1/admin/stores/:store/enrollments {ttlMs?}` (admin role: a code is worth an API key)
 *   makes a one-time code; the answer holds the code (shown once) and the hub's certificate
 *   fingerprint, for the operator to read to the store.
 * - `GET /v1/admin/enrollments[?store=S]` (any admin token): the pending codes, or every code of S.
 * - `POST /v1/enroll {code}` (no credential: the code is one) answers the store, its new API key,
 *   the hub's WebSocket URL as the caller reached it, and the certificate fingerprint. A code that
 *   does not work gets one answer (401), whatever the reason, and counts against the caller's
 *   address like any failed authentication (blocked past the gate's limit: 429).
 */
export function enrollmentRoutes(router: Router, api: AdminApi, hub: { fingerprint: string | undefined }): void {
  const fingerprint = hub.fingerprint ?? null;
  router.serve(
    createEnrollment,
    async (ctx) => {
      const who = authorize(api, ctx, true);
      const store = storeParam(api.queries, ctx);
      const body = (await ctx.body()) as { ttlMs?: unknown };
      const ttl = body.ttlMs ?? DEFAULT_ENROLLMENT_TTL_MS;
      if (typeof ttl !== 'number')
        throw new TbError(TbCodes.INVALID, 'ttlMs: expected from 1 minute to 7 days in milliseconds');
      return { ...api.enrollments.create(actorOf(who), store, ttl), fingerprint };
    },
    4096,
  );

  router.serve(listEnrollments, (ctx) => {
    authorize(api, ctx, false);
    const store = ctx.query.get('store') ?? undefined;
    return api.enrollments.list(store);
  });

  router.add(
    'POST',
    ENROLL_PATH,
    async (ctx) => {
      const source = sourceOf(ctx.req);
      const body = ((await ctx.body()) ?? {}) as { code?: unknown };
      const r = api.enrollments.use(source, typeof body === 'object' ? body.code : undefined);
      const scheme = fingerprint === null ? 'ws' : 'wss';
      const host = ctx.req.headers.host;
      const answer: EnrollAnswer = { ...r, hubUrl: host ? `${scheme}://${host}` : null, fingerprint };
      return answer;
    },
    4096,
  );
}
