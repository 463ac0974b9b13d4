/** Event name → the arguments its handlers take (an interface or a type alias). */
export type EventMap<Events> = { [K in keyof Events]: unknown[] };

type Handler<Args extends unknown[]> = (...args: Args) => void;

/** Hears a handler that threw: which event, and the error (logged with it, counted for status). */
export type HandlerFailure = (event: string, err: unknown) => void;

/**
 * A small typed event bus: what the hub link hears (a welcome, a policy, an ack…) goes out to
 * the parts of the agent that the composition root subscribed. Handlers of an event run in the
 * order they were added, each on its own: one that throws is reported to `onFailure` and the
 * others still run, so no handler can throw into the code that emitted (the WebSocket's message
 * handler) and take the link down.
 */
export class EventBus<Events extends EventMap<Events>> {
  private readonly handlers: { [K in keyof Events]?: Handler<Events[K]>[] } = {};

  constructor(private readonly onFailure: HandlerFailure) {}

  /** Adds a handler, run after those added before it; returns what removes it. */
  on<K extends keyof Events>(event: K, handler: Handler<Events[K]>): () => void {
    (this.handlers[event] ??= []).push(handler);
    return () => this.off(event, handler);
  }

  off<K extends keyof Events>(event: K, handler: Handler<Events[K]>): void {
    const list = this.handlers[event];
    const at = list?.indexOf(handler) ?? -1;
    if (list && at >= 0) list.splice(at, 1);
  }

  /** Resolves with the arguments of the next `event`. */
  next<K extends keyof Events>(event: K): Promise<Events[K]> {
    return new Promise((resolve) => {
      const off = this.on(event, (...args) => {
        off();
        resolve(args);
      });
    });
  }

  /** Runs every handler of `event` in order; returns whether there was any. Never throws. */
  emit<K extends keyof Events>(event: K, ...args: Events[K]): boolean {
    const list = [...(this.handlers[event] ?? [])];
    for (const handler of list) {
      try {
        handler(...args);
      } catch (err) {
        this.report(String(event), err);
      }
    }
    return list.length > 0;
  }

  private report(event: string, err: unknown): void {
    try {
      this.onFailure(event, err);
    } catch {
      // the failure handler itself failed: nothing more can be told, and nothing may throw from here
    }
  }
}
