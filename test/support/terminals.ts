import type { TerminalStatus } from '@tillbridge/shared';

/**
 * Scanner SC1 as a protocol-5 agent reports it to the hub: a HID keyboard wedge (the recording in
 * agent/test/fixtures/hid/keyboard-wedge-rcpt.json, 05e0:1200 on /dev/hidraw3) feeding register R1,
 * plugged in, last scanned at `lastMessageAt`; `at` is when the report was made.
 */
export function connectedScanner(lastMessageAt: string, at = lastMessageAt): TerminalStatus {
  return {
    register: 'SC1',
    kind: 'scanner',
    codec: 'hid-keyboard',
    feeds: 'R1',
    state: 'connected',
    transport: 'hid://05e0:1200@/dev/hidraw3',
    connections: 1,
    lastMessageAt,
    at,
  };
}
