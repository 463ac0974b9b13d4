import {
  describeZodError,
  FORBIDDEN_CARD_FIELDS,
  REGISTER_MESSAGE_TYPES,
  RegisterMessage,
  safePan,
  TbCodes,
  containsTrackData,
  isTbError,
} from '@tillbridge/shared';

export type CanonicalResult =
  | { ok: true; message: RegisterMessage }
  | { ok: false; id?: string; code: string; message: string };

const FORBIDDEN = new Set<string>(FORBIDDEN_CARD_FIELDS.map((f) => f.toLowerCase()));

/**
 * The gateway's last step before the store core: refuse sensitive authentication data (track
 * data, CVV, PIN) wherever it appears, validate against the canonical schema, and mask every
 * card number. Nothing that leaves this function holds a full PAN.
 * Error messages never echo the input.
 */
export function toCanonical(raw: unknown): CanonicalResult {
  const obj = raw as Record<string, unknown>;
  const id = typeof obj?.id === 'string' && obj.id.length <= 128 ? obj.id : undefined;
  const fail = (code: string, message: string): CanonicalResult => (id === undefined ? { ok: false, code, message } : { ok: false, id, code, message });

  const forbidden = findForbidden(raw, 0);
  if (forbidden) return fail(TbCodes.CARD_DATA, `${forbidden} refused: track data, CVV and PIN data are never accepted`);

  if (typeof obj.type !== 'string') return fail(TbCodes.INVALID, 'type: expected a string');
  if (!(REGISTER_MESSAGE_TYPES as readonly string[]).includes(obj.type)) {
    return fail(TbCodes.UNKNOWN_TYPE, `type: expected one of ${REGISTER_MESSAGE_TYPES.join(', ')}`);
  }
  const parsed = RegisterMessage.safeParse(raw, { reportInput: true });
  if (!parsed.success) return fail(TbCodes.INVALID, describeZodError(parsed.error).join('; '));
  const msg = parsed.data;
  try {
    if (msg.type === 'sale') {
      for (const t of msg.tenders) if (t.pan !== undefined) t.pan = safePan(t.pan);
    } else if (msg.type === 'return.complete' && msg.refund.pan !== undefined) {
      msg.refund.pan = safePan(msg.refund.pan);
    }
  } catch (err) {
    if (isTbError(err)) return fail(err.code, err.message);
    throw err;
  }
  return { ok: true, message: msg };
}

/** The path of the first forbidden card field or track-data-shaped string, if any. */
function findForbidden(v: unknown, depth: number, path = ''): string | undefined {
  if (depth > 8) return undefined;
  if (typeof v === 'string') return containsTrackData(v) ? path || 'a value' : undefined;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const f = findForbidden(v[i], depth + 1, `${path}[${i}]`);
      if (f) return f;
    }
    return undefined;
  }
  if (v && typeof v === 'object') {
    for (const [k, val] of Object.entries(v)) {
      const p = path ? `${path}.${k}` : k;
      if (FORBIDDEN.has(k.toLowerCase())) return p;
      const f = findForbidden(val, depth + 1, p);
      if (f) return f;
    }
  }
  return undefined;
}
