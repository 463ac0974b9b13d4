import { statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { TbCodes, TbError } from '@tillbridge/shared';
import { adminTokenInput, Credentials, type AdminRole } from './auth/credentials.js';
import { loadSecrets } from './auth/secrets.js';
import { AuditLog } from './domain/audit-log.js';
import { systemClock, type Clock } from './domain/clock.js';
import { isInitialized } from './hub.js';
import { openHubStorage } from './storage/index.js';
import { TokenUseCases } from './usecases/tokens.js';

function localUser(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

/**
 * An admin token made straight in the hub's data directory, without the admin API: the way back
 * in on the hub host when no admin token works. Whoever can open the data directory can read
 * `hub.secret` anyway. Audited (`token.create`, origin `cli:local`, actor the OS user). Run as the
 * user that owns the data directory: SQLite files another user creates beside the database could
 * keep the hub from opening it.
 */
export function createLocalAdminToken(
  dataDir: string,
  role: unknown,
  name: unknown,
  clock: Clock = systemClock,
  database?: string,
): { id: string; role: AdminRole; name: string; token: string } {
  const input = adminTokenInput(role, name);
  if (!isInitialized(dataDir, database))
    throw new TbError(
      TbCodes.CONFIG,
      `no hub in ${dataDir}${database ? ' with that --database' : ''}: ` +
        `expected the --data directory (and --database) of \`tillbridge-hub serve\``,
    );
  const owner = statSync(dataDir).uid;
  if (process.getuid && process.getuid() !== owner) {
    throw new TbError(
      TbCodes.CONFIG,
      `${dataDir} belongs to uid ${owner}: run this as that user (the one the hub runs as), ` +
        `e.g. sudo -u <hub user> tillbridge-hub tokens create --data ${dataDir} …`,
    );
  }
  const storage = openHubStorage(dataDir, { database });
  try {
    const tokens = new TokenUseCases({
      uow: storage,
      credentials: new Credentials(storage, loadSecrets(dataDir), clock),
      audit: new AuditLog(storage, clock),
    });
    const t = tokens.create(`local:${localUser()}`, input.role, input.name, 'cli:local');
    return { id: t.id, role: input.role, name: input.name, token: t.secret };
  } finally {
    storage.close();
  }
}
