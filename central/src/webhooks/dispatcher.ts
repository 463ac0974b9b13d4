import { monotonicClock, type Logger } from '@tillbridge/shared';
import { iso, type Clock } from '../domain/clock.js';
import type { WebhookEndpoints } from './endpoints.js';
import type { SendResult, WebhookSender } from './http-sender.js';
import type { DueRow, EndpointRow, WebhookRepo } from './repo.js';
import { DISABLE_AFTER_FAILING_MS, judge } from './retry-policy.js';
import type { SecretBox } from './secret-box.js';
import { signatureHeader } from './signing.js';

export type AttemptOutcome = 'succeeded' | 'failed' | 'abandoned';

/** One attempt, as `onAttempt` listeners hear it: failed = a retry is scheduled; abandoned = no more attempts. */
export interface AttemptReport {
  webhook: string;
  delivery: string;
  messageId: string;
  type: string;
  outcome: AttemptOutcome;
  status: number | null;
  error: string | null;
  nextAttemptAt: string | null;
  durationMs: number;
}

/** What the dispatcher reads and writes through: the deliveries, the endpoints' secrets, the clock and the log. */
export interface DispatcherDeps {
  repo: WebhookRepo;
  box: SecretBox;
  endpoints: WebhookEndpoints;
  clock: Clock;
  log: Logger;
}

export interface DispatcherOptions {
  send: WebhookSender;
  timeoutMs: number;
  pollMs: number;
  drainMs: number;
  random: () => number;
  userAgent: string;
  /**
   * How long a delivery stays leased to this process while it attempts it: longer than an attempt
   * can take (the send's timeout and the recording). A process that dies mid-attempt leaves its
   * lease behind; the delivery is due again, for any process, once it has run out.
   */
  leaseMs: number;
  /** This process's name on its leases (unique per dispatcher). */
  owner: string;
}

const SYSTEM_ACTOR = 'hub:webhooks';
const DAY = 86_400_000;

/** Why a failed attempt disables its endpoint: it is gone (410), or failing with no success for too long. */
function disableReason(gone: boolean, failingSince: string, now: number): string | undefined {
  if (gone) return 'the endpoint answered 410 Gone';
  const ms = now - Date.parse(failingSince);
  return ms >= DISABLE_AFTER_FAILING_MS
    ? `failing with no success since ${failingSince} (${Math.floor(ms / DAY)} days)`
    : undefined;
}

/**
 * The delivery loop. One worker per endpoint with due deliveries sends them one at a time (the
 * per-endpoint in-flight limit is 1); workers run side by side, so a slow or hanging endpoint only
 * delays itself. Outcomes are recorded in one transaction per attempt.
 *
 * Several hub processes on one database run a loop each: a worker first leases the delivery it is
 * about to attempt (one write transaction: no two processes lease the same one, and none leases a
 * delivery of an endpoint another process is attempting), and the transaction recording the
 * outcome clears the lease — only if it is still this process's. A process that dies mid-attempt
 * leaves a lease that runs out after `leaseMs`; the delivery is then due again (at least once:
 * the receiver may see that webhook-id twice, and dedupes by it).
 */
export class Dispatcher {
  private readonly workers = new Map<string, Promise<number>>();
  private readonly listeners: ((a: AttemptReport) => void)[] = [];
  private readonly counts: Record<AttemptOutcome, number> = { succeeded: 0, failed: 0, abandoned: 0 };
  private abort = new AbortController();
  private running = false;
  private stopping = false;
  private timer: NodeJS.Timeout | undefined;
  private wakeQueued = false;

  constructor(
    private readonly deps: DispatcherDeps,
    private readonly opts: DispatcherOptions,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopping = false;
    if (this.abort.signal.aborted) this.abort = new AbortController();
    this.tick();
  }

  /** Stops picking deliveries; waits up to drainMs for attempts in flight, then cuts them short (they stay due). */
  async stop(): Promise<void> {
    this.running = false;
    this.stopping = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    const all = Promise.allSettled([...this.workers.values()]);
    let t: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      all.then(() => true),
      new Promise<boolean>((r) => (t = setTimeout(() => r(false), this.opts.drainMs))),
    ]);
    clearTimeout(t);
    if (!drained) {
      this.abort.abort();
      await all;
    }
  }

  /** Looks for due work soon (after the caller's transaction has committed). */
  wake(): void {
    if (!this.running || this.wakeQueued) return;
    this.wakeQueued = true;
    setImmediate(() => {
      this.wakeQueued = false;
      if (this.running) this.kick();
    });
  }

  /** One pass: a worker for every endpoint with due deliveries; resolves with the attempts made. */
  async runDue(): Promise<number> {
    const done = await Promise.all(this.dispatch());
    return done.reduce((a, b) => a + b, 0);
  }

  onAttempt(listener: (a: AttemptReport) => void): void {
    this.listeners.push(listener);
  }

  /** Attempts since start by outcome. */
  attemptCounts(): Record<AttemptOutcome, number> {
    return { ...this.counts };
  }

  private tick = (): void => {
    this.timer = undefined;
    if (!this.running) return;
    this.kick();
    this.timer = setTimeout(this.tick, this.opts.pollMs);
    this.timer.unref();
  };

  private kick(): void {
    try {
      void Promise.all(this.dispatch()); // the workers run on; the next tick sees the ones still running
    } catch (err) {
      this.deps.log.error({ err }, 'webhook dispatch failed');
    }
  }

  private dispatch(): Promise<number>[] {
    if (this.stopping) return [];
    const out: Promise<number>[] = [];
    for (const webhook of this.deps.repo.dueWebhooks(iso(this.deps.clock.now()))) {
      const running = this.workers.get(webhook);
      if (running) {
        out.push(running.then(() => 0));
        continue;
      }
      const w = this.work(webhook).finally(() => this.workers.delete(webhook));
      this.workers.set(webhook, w);
      out.push(w);
    }
    return out;
  }

  private async work(webhook: string): Promise<number> {
    const tried = new Set<string>();
    let n = 0;
    try {
      for (;;) {
        if (this.stopping) return n;
        const now = this.deps.clock.now();
        const d = this.deps.repo.claimNext(webhook, this.opts.owner, iso(now), iso(now + this.opts.leaseMs));
        if (!d) return n;
        if (tried.has(d.id)) {
          // still due after this worker tried it (its outcome could not be recorded): leave it to the next pass
          this.deps.repo.release(d.id, this.opts.owner);
          return n;
        }
        tried.add(d.id);
        const r = await this.attempt(d);
        if (r === 'stop') return n;
        n++;
      }
    } catch (err) {
      this.deps.log.error({ webhook, err }, 'webhook worker failed');
      return n;
    }
  }

  private async attempt(d: DueRow): Promise<'done' | 'stop'> {
    const ep = this.deps.repo.endpoint(d.webhook);
    if (!ep || ep.disabled_at) {
      this.deps.repo.release(d.id, this.opts.owner);
      return 'stop';
    }
    const startedAt = this.deps.clock.now();
    const t0 = monotonicClock.now(); // the attempt's duration: elapsed time, not the hub's clock
    let r: SendResult;
    try {
      r = await this.opts.send({
        url: ep.url,
        headers: this.headers(ep, d, startedAt),
        body: d.body,
        timeoutMs: this.opts.timeoutMs,
        signal: this.abort.signal,
      });
    } catch (err) {
      r = { error: `not sent: ${(err as Error).message}` };
    }
    if (r.aborted) {
      // cut short at shutdown: due again at once, for whichever process is still running
      this.deps.repo.release(d.id, this.opts.owner);
      return 'stop';
    }
    const report = this.record(d, r, startedAt, Math.round(monotonicClock.now() - t0));
    if (!report) return 'done';
    this.counts[report.outcome]++;
    const log = {
      webhook: d.webhook,
      delivery: d.id,
      messageId: d.message,
      status: report.status,
      error: report.error,
      next: report.nextAttemptAt,
    };
    if (report.outcome === 'succeeded') this.deps.log.debug(log, 'webhook delivered');
    else
      this.deps.log.warn(
        log,
        report.outcome === 'failed' ? 'webhook attempt failed; will retry' : 'webhook delivery abandoned',
      );
    for (const l of this.listeners) {
      try {
        l(report);
      } catch (err) {
        this.deps.log.error({ err }, 'webhook attempt listener failed');
      }
    }
    return report.outcome === 'abandoned' && this.deps.repo.endpoint(d.webhook)?.disabled_at ? 'stop' : 'done';
  }

  private headers(ep: EndpointRow, d: DueRow, nowMs: number): Record<string, string> {
    const ts = Math.floor(nowMs / 1000);
    const secrets = [this.deps.box.open(ep.secret_enc)];
    if (ep.prev_secret_enc && ep.prev_secret_expires_at && ep.prev_secret_expires_at > iso(nowMs))
      secrets.push(this.deps.box.open(ep.prev_secret_enc));
    return {
      'content-type': 'application/json',
      'user-agent': this.opts.userAgent,
      'webhook-id': d.message,
      'webhook-timestamp': String(ts),
      'webhook-signature': signatureHeader(secrets, d.message, ts, d.body),
    };
  }

  /** The attempt's outcome, its delivery's next step and its endpoint's health, in one transaction. */
  private record(d: DueRow, r: SendResult, startedAt: number, durationMs: number): AttemptReport | undefined {
    const now = this.deps.clock.now();
    const at = iso(now);
    const status = r.status ?? null;
    return this.deps.repo.tx(() => {
      const ep = this.deps.repo.endpoint(d.webhook);
      if (!ep) return undefined;
      // judged on the schedule the delivery is on now: a redelivery asked for during the attempt started it over
      const step = this.deps.repo.delivery(d.id)?.retry_step ?? d.retry_step;
      const v = judge(r, step, now, this.opts.random);
      const update = {
        id: d.id,
        owner: this.opts.owner,
        attemptsBefore: d.attempts,
        at: iso(startedAt),
        status,
        retryStep: step + (v.kind === 'succeeded' ? 0 : 1),
      };
      const report = { webhook: d.webhook, delivery: d.id, messageId: d.message, type: d.type, status, durationMs };
      if (v.kind === 'succeeded') {
        if (!this.deps.repo.finish({ ...update, state: 'succeeded', nextAttemptAt: null, error: null }))
          return undefined;
        this.deps.repo.recordSuccess(ep.id, at);
        return { ...report, outcome: 'succeeded', error: null, nextAttemptAt: null };
      }
      const disable = disableReason(v.kind === 'gone', ep.failing_since ?? at, now);
      let error = r.error ?? `HTTP ${status}`;
      let nextAttemptAt: string | null = null;
      if (disable) error += `; endpoint disabled: ${disable}`;
      else if (v.kind === 'abandon') error += `; gave up after ${update.retryStep} failed attempts`;
      else if (v.kind === 'retry') nextAttemptAt = iso(now + v.delayMs);
      const outcome: AttemptOutcome = nextAttemptAt ? 'failed' : 'abandoned';
      if (!this.deps.repo.finish({ ...update, state: outcome, nextAttemptAt, error })) return undefined;
      this.deps.repo.recordFailure(ep.id, at);
      if (disable) this.deps.endpoints.disable(ep.id, disable, SYSTEM_ACTOR);
      return { ...report, outcome, error, nextAttemptAt };
    });
  }
}
