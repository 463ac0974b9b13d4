/** Exit codes of tillbridge-agent (docs/cli.md): 0 ok, 1 failure at run time, 2 bad usage or config, 3 not running. */
export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, NOT_RUNNING: 3 } as const;
