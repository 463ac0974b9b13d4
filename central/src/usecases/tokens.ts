import type { AdminRole, Credentials } from '../auth/credentials.js';
import type { AuditedWork } from './unit-of-work.js';

export interface TokenUseCaseDeps extends AuditedWork {
  credentials: Pick<Credentials, 'createAdminToken' | 'revokeAdminToken'>;
}

/**
 * Admin tokens (roles admin and operator), made through the admin API or on the hub host: each change one transaction
 * with its audit entry.
 */
export class TokenUseCases {
  constructor(private readonly deps: TokenUseCaseDeps) {}

  /** A new admin token (its secret shown once). `origin` overrides where the audit entry says the change came from. */
  create(actor: string, role: AdminRole, name: string, origin?: string): { id: string; secret: string } {
    const { uow, credentials, audit } = this.deps;
    return uow.tx(() => {
      const created = credentials.createAdminToken(role, name);
      audit.append({
        actor,
        action: 'token.create',
        outcome: 'created',
        resource: `admin-token:${created.id}`,
        details: { role, name },
        ...(origin ? { origin } : {}),
      });
      return created;
    });
  }

  revoke(actor: string, id: string): void {
    const { uow, credentials, audit } = this.deps;
    uow.tx(() => {
      credentials.revokeAdminToken(id);
      audit.append({ actor, action: 'token.revoke', outcome: 'revoked', resource: `admin-token:${id}` });
    });
  }
}
