import { Command, CommanderError } from 'commander';
import { accountCommands } from './commands/account.ts';
import { adminCommands } from './commands/admin.ts';
import { dataCommands } from './commands/data.ts';
import { migrateCommands } from './commands/migrate.ts';
import { Context, type GlobalOptions } from './context.ts';
import { CliError, EXIT } from './exit.ts';

/** Wraps a command's handler: it gets the context and its options and positionals, and returns its exit code. */
export type Act = <O>(handler: (ctx: Context, opts: O, ...positionals: string[]) => Promise<number>) => (...args: unknown[]) => Promise<void>;

const HELP_AFTER = `
The API: --url, else OCTODB_URL, else the URL of your last login, else http://127.0.0.1:3000.
Credentials: the token \`octodb login\` keeps in $XDG_CONFIG_HOME/octodb (~/.config/octodb), or
OCTODB_TOKEN (a token or an API key); OCTODB_PASSWORD renews an expired token by itself.
Exit codes: 0 OK, 1 ERROR, 2 USAGE, 3 AUTH, 4 NOT_FOUND, 5 REFUSED, 6 UNAVAILABLE, 7 SERVER,
8 UNREACHABLE, 9 FAILED, 10 TIMEOUT (docs/cli.md).`;

/** The `octodb` command: parses argv, runs one command, and returns its exit code (never throws). */
export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let exit: number = EXIT.OK;
  let json = argv.includes('--json');
  const act: Act = (handler) => async (...args) => {
    const command = args.at(-1) as Command;
    const options = command.optsWithGlobals<GlobalOptions>();
    json = options.json === true;
    exit = await handler(await Context.create(options, env), args.at(-2) as never, ...(args.slice(0, -2) as string[]));
  };

  const program = new Command('octodb')
    .description('OctoDB from the command line: your account, databases, queries, migrations and logs')
    .option('--url <url>', 'the OctoDB API (default: OCTODB_URL, else your last login\'s, else http://127.0.0.1:3000)')
    .option('--json', 'machine output: JSON on stdout, errors as JSON on stderr')
    .addHelpText('after', HELP_AFTER)
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(json ? `${JSON.stringify({ error: text.trim().replace(/^error: /, ''), exit: 'USAGE', code: EXIT.USAGE })}\n` : text) });
  accountCommands(program, act);
  dataCommands(program, act);
  migrateCommands(program, act);
  adminCommands(program, act);

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exit;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help is a success; a parse error (unknown flag, missing argument) or a group without its command is USAGE.
      return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    const failure = error instanceof CliError ? error : new CliError(`Unexpected error: ${(error as Error).message ?? String(error)}`, 'ERROR');
    if (json) {
      const answer = { error: failure.message, exit: failure.exit, code: EXIT[failure.exit], ...(failure.details.status ? { status: failure.details.status, answer: failure.details.body } : {}) };
      process.stderr.write(`${JSON.stringify(answer)}\n`);
    } else process.stderr.write(`octodb: ${failure.message}\n`);
    return EXIT[failure.exit];
  }
}
