import type { Command } from 'commander';
import { EXIT } from '../exit.ts';
import type { Act } from '../main.ts';
import { ask } from '../prompts.ts';

/** `npm run admin`'s exits: 0 done, 2 bad input, 1 refused or not ready (its reason on stderr). */
const ADMIN_EXITS: Record<number, number> = { 0: EXIT.OK, 2: EXIT.USAGE };

/** admin create: what `npm run admin -- create` does (an operator command: MySQL or the admin function, not the HTTP API). */
export function adminCommands(program: Command, act: Act): void {
  program
    .command('admin')
    .description('Operators: admin accounts (not over the HTTP API: on OCTODB_MYSQL_URL, or the deployed function named by OCTODB_ADMIN_FUNCTION)')
    .command('create')
    .description('Create an admin tenant and provision its database, which children can then follow (prints {tenant_id, db_id, status})')
    .option('--name <name>', 'the admin\'s name (asked when missing)')
    .option('--email <email>', 'the admin\'s email (asked when missing)')
    .option('--password <password>', 'at least 8 characters (else OCTODB_PASSWORD, else asked)')
    .option('--template <template>', 'the starting schema', 'default')
    .action(
      act(async (ctx, opts: { name?: string; email?: string; password?: string; template: string }) => {
        const name = await ask('name', opts.name, ctx.env);
        const email = await ask('email', opts.email, ctx.env);
        const password = await ask('password', opts.password, ctx.env);
        // Loaded only here: it brings the server's own modules (MetaDB, provisioning), which no other command needs.
        const { main } = await import('../../admin.ts');
        const exit = await main(['create', '--name', name, '--email', email, '--password', password, '--template', opts.template], ctx.env);
        return ADMIN_EXITS[exit] ?? EXIT.FAILED;
      }),
    );
}
