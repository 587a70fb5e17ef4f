import type { Command } from 'commander';
import type { z } from 'zod';
import type { signupAnswer, verifyAnswer } from '#shared/responses';
import type { Context } from '../context.ts';
import { CliError, EXIT } from '../exit.ts';
import { fields, note, print, printJson } from '../output.ts';
import { ask } from '../prompts.ts';
import type { Act } from '../main.ts';
import { seconds, sleep } from '../wait.ts';

type Account = z.output<typeof signupAnswer> | z.output<typeof verifyAnswer>;

/** signup, verify, login, logout, whoami: the account and the session kept for each API URL. */
export function accountCommands(program: Command, act: Act): void {
  program
    .command('signup')
    .description('Create an account and its database, sign in, and wait until the database is ready')
    .option('--name <name>', 'your name (asked when missing)')
    .option('--email <email>', 'your email (asked when missing)')
    .option('--password <password>', 'at least 8 characters (else OCTODB_PASSWORD, else asked)')
    .option('--template <template>', 'the starting schema: a template name or a parent database id', 'default')
    .option('--no-wait', 'return once the database is being provisioned')
    .option('--timeout <seconds>', 'how long to wait for the database', seconds, 120)
    .action(
      act(async (ctx, opts: { name?: string; email?: string; password?: string; template: string; wait: boolean; timeout: number }) => {
        const name = await ask('name', opts.name, ctx.env);
        const email = await ask('email', opts.email, ctx.env);
        const password = await ask('password', opts.password, ctx.env);
        const account = await ctx.api.post<Account>('/signup', { name, email, password, template: opts.template });
        if (account.status === 'unverified') {
          note(`A code was emailed to ${email}: run \`octodb verify <code> --email ${email}\`, then \`octodb login\`.`);
          return show(ctx, account);
        }
        await ctx.signIn(email, password);
        if (!opts.wait) return show(ctx, account);
        return show(ctx, await untilProvisioned(ctx, account, opts.timeout));
      }),
    );

  program
    .command('verify')
    .description('Send back the code emailed at signup (when the API asks for email verification)')
    .argument('<code>', 'the 8 digits from the email')
    .option('--email <email>', 'the email you signed up with (asked when missing)')
    .action(
      act(async (ctx, opts: { email?: string }, code: string) => {
        const email = await ask('email', opts.email, ctx.env);
        const account = await ctx.api.post<Account>('/verify', { email, code });
        note('Verified: your database is being provisioned; run `octodb login`.');
        return show(ctx, account);
      }),
    );

  program
    .command('login')
    .description('Sign in: the token is kept in your config dir (mode 0600) for this API URL; log in again to renew it')
    .option('--email <email>', 'your email (default: the one of the last login to this URL, else asked)')
    .option('--password <password>', 'your password (else OCTODB_PASSWORD, else asked)')
    .action(
      act(async (ctx, opts: { email?: string; password?: string }) => {
        const email = await ask('email', opts.email ?? (await ctx.sessions.get(ctx.urlKey))?.email, ctx.env);
        const session = await ctx.signIn(email, await ask('password', opts.password, ctx.env));
        const result = { url: ctx.urlKey, email, expires_at: session.expires_at, session_file: ctx.sessions.file };
        if (ctx.json) printJson(result);
        else print(`Signed in to ${ctx.urlKey} as ${email}; the token expires at ${session.expires_at}.`);
        return EXIT.OK;
      }),
    );

  program
    .command('logout')
    .description('Forget the token kept for this API URL (it stays valid on the server until it expires or you log in again)')
    .action(
      act(async (ctx) => {
        const removed = await ctx.sessions.remove(ctx.urlKey);
        if (ctx.json) printJson({ url: ctx.urlKey, removed });
        else print(removed ? `Signed out of ${ctx.urlKey}.` : `Not signed in to ${ctx.urlKey}.`);
        return EXIT.OK;
      }),
    );

  program
    .command('whoami')
    .description('Who the session belongs to, and your storage use')
    .action(
      act(async (ctx) => {
        const user = await ctx.dashboard('get_user_info');
        const session = ctx.env.OCTODB_TOKEN ? undefined : await ctx.sessions.get(ctx.urlKey);
        const result = { url: ctx.urlKey, ...user, token_expires_at: session?.expires_at ?? null };
        if (ctx.json) printJson(result);
        else {
          const { storage, ...rest } = result;
          print(fields({ ...rest, storage_used_bytes: storage.used_bytes, storage_quota_bytes: storage.quota_bytes }));
        }
        return EXIT.OK;
      }),
    );
}

/** The account, and its database's status once waited for. */
type Shown = Omit<Account, 'status'> & { status: string; status_reason?: string | null };

function show(ctx: Context, account: Shown): number {
  if (ctx.json) printJson(account);
  else print(fields(account));
  return account.status === 'failed' ? EXIT.FAILED : EXIT.OK;
}

/** Polls list_databases until the new database leaves provisioning. */
async function untilProvisioned(ctx: Context, account: Account, timeoutSeconds: number): Promise<Shown> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  note(`Provisioning database ${account.db_id}…`);
  for (;;) {
    const { databases } = await ctx.dashboard('list_databases');
    const db = databases.find((d) => d.db_id === account.db_id);
    if (db && db.status !== 'provisioning') return { ...account, status: db.status, status_reason: db.status_reason };
    if (Date.now() > deadline) {
      throw new CliError(`Database ${account.db_id} still provisioning after ${timeoutSeconds} s: see \`octodb dbs\``, 'TIMEOUT');
    }
    await sleep(250);
  }
}
