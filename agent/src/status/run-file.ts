import { join } from 'node:path';

/** The file a running agent writes in its data directory (its pid and status URL), for `status` to find it. */
export function runFilePath(dataDir: string): string {
  return join(dataDir, 'agent.run.json');
}
