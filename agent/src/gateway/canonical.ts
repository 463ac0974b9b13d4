import {
  describeZodError,
  findForbiddenCardData,
  sweepCardNumbers,
  REGISTER_MESSAGE_TYPES,
  RegisterMessage,
  safePan,
  protectTenderPan,
  fullPanDigits,
  TbCodes,
  isTbError,
  panHmac,
  findCardNumbers,
  maskCardNumbersIn,
} from '@tillbridge/shared';

export type CanonicalResult =
  { ok: true; message: RegisterMessage } | { ok: false; id?: string; code: string; message: string };

/**
 * The gateway's last step before the store core: refuse sensitive authentication data (track
 * data, CVV, PIN) wherever it appears, validate against the canonical schema, and mask every
 * card number. Nothing that leaves this function holds a full PAN.
 * Error messages never echo the input.
 */
export interface CanonicalOptions {
  /** Key of the keyed hash kept of card numbers (the hub's); without it, nothing needing one is accepted. */
  cardKey?: Buffer | undefined;
}

export function toCanonical(raw: unknown, opts: CanonicalOptions = {}): CanonicalResult {
  const obj = raw as Record<string, unknown>;
  // the id is echoed in error replies and logs: never when it holds a card number
  const claimedId = (raw as { id?: unknown } | null | undefined)?.id;
  const idIsSafe = typeof claimedId === 'string' && claimedId.length <= 128 && findCardNumbers(claimedId).length === 0;
  const id = idIsSafe ? claimedId : undefined;
  // an error message may quote the input (an unknown key's name…): never a card number in it
  const fail = (code: string, text: string): CanonicalResult => {
    const message = maskCardNumbersIn(text);
    return id === undefined ? { ok: false, code, message } : { ok: false, id, code, message };
  };

  const forbidden = findForbiddenCardData(raw);
  if (forbidden) {
    return fail(TbCodes.CARD_DATA, `${forbidden} refused: track data, CVV and PIN data are never accepted`);
  }

  if (typeof obj.type !== 'string') return fail(TbCodes.INVALID, 'type: expected a string');
  if (!(REGISTER_MESSAGE_TYPES as readonly string[]).includes(obj.type)) {
    return fail(TbCodes.UNKNOWN_TYPE, `type: expected one of ${REGISTER_MESSAGE_TYPES.join(', ')}`);
  }
  dropRegisterHashes(obj);
  const parsed = RegisterMessage.safeParse(raw, { reportInput: true });
  if (!parsed.success) return fail(TbCodes.INVALID, describeZodError(parsed.error).join('; '));
  const msg = parsed.data;
  try {
    const refused = protectCardNumbers(msg, opts.cardKey);
    if (refused) return fail(refused.code, refused.text);
  } catch (err) {
    if (isTbError(err)) return fail(err.code, err.message);
    throw err;
  }
  // A card number typed where it does not belong: masked in free text, refused in an identifier.
  const stray = sweepCardNumbers(msg, '');
  if (stray) {
    const where = 'card numbers go only in a tender\'s "pan" (or "card" to find a sale)';
    return fail(TbCodes.CARD_DATA, `${stray}: looks like a card number; ${where}`);
  }
  return { ok: true, message: msg };
}

/** Hashes are the gateway's to compute: whatever a register put there is dropped. */
function dropRegisterHashes(obj: Record<string, unknown>): void {
  delete obj.cardHash;
  if (!Array.isArray(obj.tenders)) return;
  for (const t of obj.tenders) if (t && typeof t === 'object') delete (t as Record<string, unknown>).panHash;
}

interface Refused {
  code: string;
  text: string;
}

/**
 * Card numbers where they belong: a tender's masked (with its keyed hash), a refund's masked, the
 * card to find a sale by replaced by its keyed hash. What is refused, if anything; throws
 * TB_CARD_DATA for a number that is neither full nor masked.
 */
function protectCardNumbers(msg: RegisterMessage, cardKey: Buffer | undefined): Refused | undefined {
  if (msg.type === 'sale') {
    for (const t of msg.tenders) {
      if (t.pan === undefined) continue;
      const kept = protectTenderPan(t.pan, cardKey);
      t.pan = kept.pan;
      if (kept.panHash !== undefined) t.panHash = kept.panHash;
    }
  } else if (msg.type === 'return.complete' && msg.refund.pan !== undefined) {
    msg.refund.pan = safePan(msg.refund.pan);
  } else if ((msg.type === 'return.request' || msg.type === 'receipt.lookup') && msg.card !== undefined) {
    const digits = fullPanDigits(msg.card);
    delete msg.card;
    if (digits === undefined) {
      const text = 'card: expected the full card number (13-19 digits), read from the card; it is never stored';
      return { code: TbCodes.CARD_DATA, text };
    }
    if (!cardKey) {
      const text = 'finding a sale by card needs the hub, which this agent has not reached yet';
      return { code: TbCodes.HUB_UNAVAILABLE, text };
    }
    msg.cardHash = panHmac(cardKey, digits);
  }
  return undefined;
}
