import type { RawData } from 'ws';
import { inflateFrame, MAX_AGENT_FRAME_BYTES, WIRE_VERSION } from '@tillbridge/shared';

/** The bytes of a WebSocket message as `ws` hands it over (one buffer, fragments, or an ArrayBuffer). */
function wsBytes(data: RawData): Buffer {
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.isBuffer(data) ? data : Buffer.from(data);
}

/** The text of a WebSocket message as `ws` hands it over. */
export function wsText(data: RawData): string {
  return wsBytes(data).toString('utf8');
}

/**
 * The JSON text of a frame an agent sent a stand-in hub that welcomed it at protocol `protocol`: a binary
 * message is a compressed frame (protocol 4 on, shared/src/wire-compression.ts), inflated as the hub does.
 */
export function agentFrameText(data: RawData, isBinary: boolean, protocol = WIRE_VERSION): string {
  return isBinary ? inflateFrame(wsBytes(data), protocol, MAX_AGENT_FRAME_BYTES) : wsText(data);
}
