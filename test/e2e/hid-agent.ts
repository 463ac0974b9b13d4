import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '@tillbridge/shared';
import { parseAgentConfig, startAgent, type RunningAgent } from '@tillbridge/agent';
import { agentConfig } from '@tillbridge/scripts/lib/cluster';
import { ROOT } from '@tillbridge/scripts/lib/paths';
import { FakeHidBinding, type HidRecording } from '../../agent/test/support/fake-hid-binding.js';
import type { World } from './fixture.js';

/** A store's agent run in this process with a HID barcode scanner, and the scanner's device. */
export interface ScannerAgent {
  agent: RunningAgent;
  /** the HID binding's test double: plug, scan (emitReport) and unplug the scanner through it */
  hid: FakeHidBinding;
  /** the recorded keyboard-wedge scan of receipt RCPT-000123 (agent/test/fixtures/hid), its device and reports */
  scan: HidRecording;
}

/**
 * Starts `store`'s agent in this process (its default register R1) with scanner SC1, a keyboard-wedge scanner feeding
 * R1, on the test double of the HID binding (no HID device exists here); the scanner is not plugged in yet.
 */
export async function startScannerAgent(w: World, store: string, pollMs?: number): Promise<ScannerAgent> {
  const scan = JSON.parse(
    readFileSync(join(ROOT, 'agent', 'test', 'fixtures', 'hid', 'keyboard-wedge-rcpt.json'), 'utf8'),
  ) as HidRecording;
  const hid = new FakeHidBinding();
  const cfg = agentConfig({
    dir: join(w.dir, `agent-hid-${store}`),
    store,
    apiKey: w.keys.get(store)!,
    hubWsUrl: w.hub.wsUrl,
  });
  const { vendorId, productId } = scan.device;
  cfg.scanners = [{ id: 'SC1', register: 'R1', vendorId, productId, mode: 'keyboard', ...(pollMs ? { pollMs } : {}) }];
  cfg.log = { level: 'silent' };
  const agent = await startAgent(parseAgentConfig(cfg), createLogger({ name: 'hid-test', level: 'silent' }), { hid });
  return { agent, hid, scan };
}
