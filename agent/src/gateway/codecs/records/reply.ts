import { TbCodes, type RegisterReply } from '@tillbridge/shared';
import { formatField, type Conversion, type Units } from './fields.js';
import { isRecordContext } from './frame.js';

/**
 * The part of encoding both record codecs share: which layout answers which reply, where each
 * reply value comes from, and what is written when a reply cannot be: an error record instead.
 */

export interface ReplyFieldLike extends Conversion {
  from?: string | undefined;
  const?: string | number | undefined;
  default?: string | undefined;
}

export type Item = Readonly<Record<string, unknown>>;
export type Echo = Readonly<Record<string, string>> | undefined;

/** A reply value as text (not yet fitted to its field); undefined when it cannot be written. */
export function replyText(
  f: ReplyFieldLike,
  reply: RegisterReply,
  item: Item | undefined,
  echo: Echo,
  units: Units,
): { text: string; numeric: boolean } | undefined {
  let value: unknown;
  if (f.const !== undefined) value = f.const;
  else if (f.from?.startsWith('context.')) {
    const name = f.from.slice(8);
    value = echo && Object.hasOwn(echo, name) ? echo[name] : undefined;
  } else if (f.from === 'lines.count') value = replyLines(reply).length;
  else if (f.from !== undefined) {
    const src = (item ?? reply) as Record<string, unknown>;
    value = Object.hasOwn(src, f.from) ? src[f.from] : undefined;
  }
  if (value === undefined || value === null) return { text: f.default ?? '', numeric: false };
  if (f.from === 'lines.count' && typeof value === 'number' && f.as === 'text' && !f.map)
    return { text: String(value), numeric: true };
  return formatField(value, f, units);
}

export function replyLines(reply: RegisterReply): Item[] {
  return reply.type === 'return.decision' || reply.type === 'receipt' ? reply.lines : [];
}

/** The context `decode` gave for the i-th message, if any. */
function echoAt(context: unknown, i: number): Echo {
  return isRecordContext(context) ? context.records[i] : undefined;
}

/**
 * Renders every reply with `render` (strict: undefined when a value does not fit). A reply type
 * the profile has no record for, or a reply that does not fit its layout, is answered with the
 * profile's error record (TB_INTERNAL) instead, so the register always hears something.
 */
export function renderReplies<L, Out>(
  replies: RegisterReply[],
  context: unknown,
  layouts: Partial<Record<RegisterReply['type'], L>> & { error: L },
  render: (layout: L, reply: RegisterReply, echo: Echo, strict: boolean) => Out[] | undefined,
): Out[] {
  const out: Out[] = [];
  replies.forEach((reply, i) => {
    const echo = echoAt(context, i);
    const layout = layouts[reply.type];
    const done = layout === undefined ? undefined : render(layout, reply, echo, true);
    if (done) {
      out.push(...done);
      return;
    }
    const message =
      layout === undefined
        ? `the register profile has no reply record for ${reply.type}`
        : `the ${reply.type} reply does not fit the register profile's record layout`;
    const err: RegisterReply =
      'id' in reply && reply.id !== undefined
        ? { type: 'error', id: reply.id, code: TbCodes.INTERNAL, message }
        : { type: 'error', code: TbCodes.INTERNAL, message };
    out.push(...(render(layouts.error, err, echo, false) ?? []));
  });
  return out;
}
