import type { Command } from 'commander';
import { Option } from 'commander';
import { readFileSync } from 'node:fs';
import type * as z from 'zod/mini';
import { isTbError, TbCodes, TbError } from '@tillbridge/shared/errors';
import type { RequestArgs, RouteContract } from '../http/contract/route.js';
import type { AdminClient } from './admin-client.js';
import { EXIT } from './exit-codes.js';
import { examplesHelp } from './format.js';

export { EXIT };

export function exitCodeFor(err: unknown): number {
  if (!isTbError(err)) return EXIT.FAILURE;
  switch (err.code) {
    case TbCodes.INVALID:
    case TbCodes.MALFORMED:
    case TbCodes.CONFIG:
      return EXIT.USAGE;
    case TbCodes.NOT_FOUND:
      return EXIT.NOT_FOUND;
    case TbCodes.UNAUTHORIZED:
    case TbCodes.FORBIDDEN:
      return EXIT.AUTH;
    case TbCodes.AUDIT_BROKEN:
      return EXIT.AUDIT_BROKEN;
    case TbCodes.CONFLICT:
    case TbCodes.LAST_ADMIN:
      return EXIT.CONFLICT;
    case TbCodes.TLS:
      return EXIT.TLS;
    default:
      return EXIT.FAILURE;
  }
}

/** What every command module gets: the program (for global options) and a client for the admin API. */
export interface CliContext {
  program: Command;
  client(): AdminClient;
}

/** A command of tillbridge-hub itself: a group of subcommands (`returns …`) or one that acts (`status`). */
export function topCommand(ctx: CliContext, name: string, description: string): Command {
  return ctx.program.command(name).description(description);
}

/** `--store`: only what one store holds (`what` says what is kept, for the help). */
export const storeFilter = (what = 'only this store'): Option => new Option('--store <store>', what);

/** What a subcommand's help says besides its usage. */
export interface CommandHelp {
  description: string;
  /** its options, in order */
  options?: Option[];
  /** command lines, under its help (after `tillbridge-hub `) */
  examples: string[];
  /** a paragraph of help before the examples */
  note?: string;
}

/** A subcommand with its options, then its examples (after the note when there is one) under its help. */
export function exampledCommand(parent: Command, usage: string, help: CommandHelp): Command {
  const command = parent.command(usage).description(help.description);
  for (const option of help.options ?? []) command.addOption(option);
  const before = help.note ? `\n${help.note}\n` : '';
  const after = examplesHelp(...help.examples.map((line) => `tillbridge-hub ${line}`));
  return command.addHelpText('after', `${before}${after}`);
}

/** A subcommand that prints what it gets: `--json` comes after its options. The caller adds the action (`act`). */
export function printingCommand(parent: Command, usage: string, help: CommandHelp): Command {
  const options = [...(help.options ?? []), new Option('--json', 'print JSON')];
  return exampledCommand(parent, usage, { ...help, options });
}

/** What a command that asks the hub one thing says of itself, asks and prints (`askCommand`). */
export interface Ask<
  Path extends string,
  Query extends z.ZodMiniType,
  Response extends z.ZodMiniType,
  A extends unknown[],
> extends CommandHelp {
  route: RouteContract<Path, Query, Response>;
  /** the request, made of the command's arguments and options (none: a route without params, query or body) */
  request?: (...args: A) => RequestArgs<Path, Query>;
  /** the answer for people (with --json the answer itself is printed) */
  text: (answer: z.output<Response>, ...args: A) => string;
}

/** A `printingCommand` whose action asks the hub `ask.route` and prints the answer. */
export function askCommand<
  Path extends string,
  Query extends z.ZodMiniType,
  Response extends z.ZodMiniType,
  A extends unknown[],
>(ctx: CliContext, parent: Command, usage: string, ask: Ask<Path, Query, Response, A>): Command {
  return printingCommand(parent, usage, ask).action(
    act(async (...args: A) => {
      const client = ctx.client();
      // the request's params are what the route's path names: `ask.request`'s type says so
      const request = client.request.bind(client) as (
        route: RouteContract<Path, Query, Response>,
        args?: RequestArgs<Path, Query>,
      ) => Promise<z.output<Response>>;
      const answer = await request(ask.route, ask.request?.(...args));
      // commander passes the arguments, then the options, then the command
      const opts = args[args.length - 2] as { json?: boolean };
      print(opts.json, answer, () => ask.text(answer, ...args));
    }),
  );
}

/** A subcommand that changes one thing, named by its id, and says what it did in a line (`change`'s answer). */
export function idCommand(
  parent: Command,
  usage: string,
  description: string,
  example: string,
  change: (id: string) => Promise<string>,
): Command {
  return parent
    .command(usage)
    .description(description)
    .addHelpText('after', `\nExample:\n  tillbridge-hub ${example}`)
    .action(
      act(async (id: string) => {
        process.stdout.write(`${await change(id)}\n`);
      }),
    );
}

export function print(json: boolean | undefined, data: unknown, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : `${human()}\n`);
}

/** Wraps an action: errors print "error: …" and exit with the code for their kind. */
export function act<A extends unknown[]>(fn: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      process.stderr.write(`error: ${(err as Error).message}\n`);
      process.exit(exitCodeFor(err));
    }
  };
}

export const dataOpt = (): Option =>
  new Option('--data <dir>', 'hub data directory').env('TILLBRIDGE_HUB_DATA').makeOptionMandatory();
/** Where the hub's data lives when not in the data directory's SQLite file: a PostgreSQL URL. */
export const databaseOpt = (): Option =>
  new Option(
    '--database <url>',
    'PostgreSQL URL (postgres://user@host:5432/db) shared by every hub process; default: the SQLite file in --data',
  ).env('TILLBRIDGE_HUB_DATABASE');
/** The --database option checked: a postgres:// URL, or none. */
export function databaseOf(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^postgres(ql)?:\/\//i.test(value))
    throw new TbError(
      TbCodes.CONFIG,
      `--database (TILLBRIDGE_HUB_DATABASE): expected a postgres:// or postgresql:// URL, got ` +
        `"${value.replace(/:[^:@/]*@/, ':***@')}"`,
    );
  return value;
}

/** A file the operator named, as text; an unreadable one is a usage error naming it (and what it should be). */
export function readInputFile(file: string, what?: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new TbError(TbCodes.INVALID, `cannot read ${what ? `${what} ` : ''}${file}: ${(err as Error).message}`);
  }
}
