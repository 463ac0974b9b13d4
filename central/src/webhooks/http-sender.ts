import got from 'got';
import type { AttemptResult } from './retry-policy.js';

export interface OutgoingWebhook {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  signal: AbortSignal;
}

export interface SendResult extends AttemptResult {
  /** What went wrong, for the operator: "HTTP 500: <start of the body>", "timeout after 15000 ms", … */
  error?: string;
  /** The attempt was cut short by shutdown: it is not counted, and the delivery stays due. */
  aborted?: boolean;
}

/** Sends one webhook request. Never throws: a network error is a result like any other. */
export type WebhookSender = (req: OutgoingWebhook) => Promise<SendResult>;

const SNIPPET = 200;

/** One POST with got: no retries of its own, no redirects followed, one timeout for the whole request. */
export const httpSender: WebhookSender = async (req) => {
  try {
    const res = await got.post(req.url, {
      body: req.body,
      headers: req.headers,
      retry: { limit: 0 },
      followRedirect: false,
      timeout: { request: req.timeoutMs },
      throwHttpErrors: false,
      signal: req.signal,
    });
    const status = res.statusCode;
    const retryAfter = res.headers['retry-after'];
    const ok = status >= 200 && status < 300;
    const out: SendResult = { status };
    if (retryAfter) out.retryAfter = retryAfter;
    if (!ok) {
      const location = status >= 300 && status < 400 ? res.headers.location : undefined;
      const redirect = location ? ` (redirect to ${location}, not followed)` : '';
      out.error = `HTTP ${status}${redirect}${snippet(res.body)}`;
    }
    return out;
  } catch (err) {
    if (req.signal.aborted) return { aborted: true, error: 'cut short by shutdown' };
    const e = err as { code?: string; message: string };
    if (e.code === 'ETIMEDOUT') return { error: `timeout: no answer within ${req.timeoutMs} ms` };
    return { error: e.code ? `${e.code}: ${e.message}` : e.message };
  }
};

function snippet(body: string): string {
  const t = body.replace(/\s+/g, ' ').trim();
  if (!t) return '';
  return `: ${t.length > SNIPPET ? `${t.slice(0, SNIPPET)}…` : t}`;
}
