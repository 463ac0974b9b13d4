import type { AgentFrame, TerminalStatus } from '@tillbridge/shared';
import type { RegisterStatus, RegisterStatusSource } from '../../src/core/ports.js';
import type { TerminalLink } from '../../src/sync/terminal-reporter.js';

/** A hub link for a TerminalReporter: up, welcomed at `protocol`; it keeps every frame sent. */
export function recordingLink(protocol: number): TerminalLink & { sent: AgentFrame[]; items(): TerminalStatus[] } {
  const sent: AgentFrame[] = [];
  return {
    connected: true,
    info: () => ({ protocol }),
    send: (f) => sent.push(f) > 0,
    sent,
    /** the terminal statuses of every `terminal` frame sent, in order */
    items: () => sent.flatMap((f) => (f.t === 'terminal' ? f.items : [])),
  };
}

/** A register whose status never changes: what a TerminalReporter sends of it on each `reportAll`. */
export function steadyRegister(status: RegisterStatus): RegisterStatusSource {
  return { onStatus: () => undefined, status: () => status };
}
