/** Exit codes of tillbridge-hub, documented in docs/cli.md. */
export const EXIT = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  NOT_FOUND: 3,
  AUTH: 4,
  AUDIT_BROKEN: 5,
  CONFLICT: 6,
  TLS: 7,
} as const;
