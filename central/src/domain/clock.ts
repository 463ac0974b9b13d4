/** The hub's notion of now; tests use a settable one. The interface is shared with the agent. */
export { systemClock, type Clock } from '@tillbridge/shared';

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}
