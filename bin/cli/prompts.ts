import { CliError } from './exit.ts';

type Asked = 'name' | 'email' | 'password';

/**
 * A value the flag did not give: the password from OCTODB_PASSWORD, else asked on the terminal
 * (prompts on stderr, so stdout stays the result). Without a terminal (a script) it is a usage error.
 */
export async function ask(what: Asked, given: string | undefined, env: NodeJS.ProcessEnv): Promise<string> {
  if (given !== undefined) return given;
  if (what === 'password' && env.OCTODB_PASSWORD) return env.OCTODB_PASSWORD;
  if (!process.stdin.isTTY) {
    const also = what === 'password' ? ' (or OCTODB_PASSWORD)' : '';
    throw new CliError(`--${what} is required${also}: there is no terminal to ask on`, 'USAGE');
  }
  // Loaded when a prompt is needed: most runs (flags, scripts) never ask.
  const context = { output: process.stderr };
  if (what === 'password') return (await import('@inquirer/password')).default({ message: 'Password', mask: '*' }, context);
  return (await import('@inquirer/input')).default({ message: what === 'name' ? 'Name' : 'Email', required: true }, context);
}
