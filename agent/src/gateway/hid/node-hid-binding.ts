import { TbCodes, TbError } from '@tillbridge/shared';
import type { HidBinding, HidDeviceInfo, HidHandle } from './binding.js';

type NodeHid = typeof import('node-hid');

/** How node-hid is loaded; tests inject a failing one. */
export type NodeHidImporter = () => Promise<NodeHid>;

const importNodeHid: NodeHidImporter = () => import('node-hid');

export const HID_LIBRARY_HINT =
  'USB HID needs the system libraries libusb-1.0 and libudev: on Debian/Ubuntu run `sudo apt-get install ' +
  'libusb-1.0-0 libudev1`, then restart the agent';

class NodeHidBinding implements HidBinding {
  constructor(private readonly hid: NodeHid) {}

  devices(): Promise<HidDeviceInfo[]> {
    return this.hid.devicesAsync();
  }

  async open(path: string): Promise<HidHandle> {
    return this.hid.HIDAsync.open(path);
  }
}

/**
 * Loads node-hid and its native library. Call it only when a HID register or scanner is
 * configured, so that an agent without HID runs where libusb is absent. node-hid loads its
 * native part lazily, so one enumeration is made here to surface a missing library at start.
 * @throws TbError TB_CONFIG naming the system package to install.
 */
export async function loadNodeHidBinding(importer: NodeHidImporter = importNodeHid): Promise<HidBinding> {
  let hid: NodeHid;
  try {
    const mod = await importer();
    hid = typeof mod.devicesAsync === 'function' ? mod : ((mod as { default?: NodeHid }).default ?? mod);
    await hid.devicesAsync();
  } catch (err) {
    throw new TbError(
      TbCodes.CONFIG,
      `USB HID support could not be loaded (${(err as Error).message}). ${HID_LIBRARY_HINT}`,
      { cause: err },
    );
  }
  return new NodeHidBinding(hid);
}
