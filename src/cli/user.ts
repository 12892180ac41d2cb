/** `sslgate user add|del|passwd|list`: the gateway's local user store. */
import type { Command } from 'commander';
import { ConfigError, loadConfig, type GatewayConfig } from '../gateway/config.js';
import { UserStore } from '../gateway/user-store.js';
import { CliError } from './errors.js';
import { readSecret } from './read-secret.js';

function config(file: string | undefined): GatewayConfig {
  try {
    return loadConfig(file);
  } catch (e) {
    if (e instanceof ConfigError) throw new CliError(e.message, 2);
    throw e;
  }
}

function parseGroups(cfg: GatewayConfig, text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const names = text.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!cfg.groups.some((g) => g.name === n)) throw new CliError(`unknown group ${n} (configured: ${cfg.groups.map((g) => g.name).join(', ')})`);
  }
  return names;
}

export function register(program: Command): void {
  const user = program.command('user').description('manage the gateway\'s local users (stored in the state folder)');
  const withConfig = (c: Command): Command => c.option('-c, --config <file>', 'gateway configuration (for the state folder and groups)');

  withConfig(user.command('add').argument('<name>').description('add a user; the password is read from stdin'))
    .option('-g, --groups <list>', 'comma-separated groups the user may use (default: all)')
    .action(async (name: string, opts: { config?: string; groups?: string }) => {
      const cfg = config(opts.config);
      const store = UserStore.inState(cfg.state);
      if (store.get(name)) throw new CliError(`user ${name} exists (use 'user passwd')`);
      const groups = parseGroups(cfg, opts.groups);
      await store.set(name, await readSecret(`Password for ${name}: `, true), groups);
      process.stdout.write(`added user ${name}${groups ? ` (groups: ${groups.join(', ')})` : ''}\n`);
    });

  withConfig(user.command('passwd').argument('<name>').description('set a user\'s password, read from stdin'))
    .option('-g, --groups <list>', 'also set the groups (comma-separated)')
    .action(async (name: string, opts: { config?: string; groups?: string }) => {
      const cfg = config(opts.config);
      const store = UserStore.inState(cfg.state);
      if (!store.get(name)) throw new CliError(`no user ${name}`);
      await store.set(name, await readSecret(`New password for ${name}: `, true), parseGroups(cfg, opts.groups));
      process.stdout.write(`password of ${name} changed\n`);
    });

  withConfig(user.command('del').argument('<name>').description('delete a user')).action((name: string, opts: { config?: string }) => {
    const store = UserStore.inState(config(opts.config).state);
    if (!store.delete(name)) throw new CliError(`no user ${name}`);
    process.stdout.write(`deleted user ${name}\n`);
  });

  withConfig(user.command('list').description('list users'))
    .option('--json', 'machine-readable output')
    .action((opts: { config?: string; json?: boolean }) => {
      const users = UserStore.inState(config(opts.config).state).list();
      if (opts.json) {
        process.stdout.write(JSON.stringify(users.map((u) => ({ name: u.name, groups: u.groups ?? null, created: u.created }))) + '\n');
        return;
      }
      for (const u of users) process.stdout.write(`${u.name}\t${u.groups ? u.groups.join(',') : '(all groups)'}\t${u.created}\n`);
    });
}
