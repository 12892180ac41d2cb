/** `sslgate user add|del|passwd|list|import`: the gateway's local user store. */
import type { Command } from 'commander';
import { ConfigError, loadConfig, type GatewayConfig } from '../gateway/config.js';
import { readFileSync } from 'node:fs';
import { OcpasswdError, parseOcpasswd } from '../gateway/ocpasswd.js';
import { hashKind, UserStore } from '../gateway/user-store.js';
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
        process.stdout.write(JSON.stringify(users.map((u) => ({ name: u.name, groups: u.groups ?? null, created: u.created, hash: hashKind(u.hash) }))) + '\n');
        return;
      }
      for (const u of users) process.stdout.write(`${u.name}\t${u.groups ? u.groups.join(',') : '(all groups)'}\t${u.created}\t${hashKind(u.hash)}\n`);
    });

  withConfig(user.command('import').description('import users from ocserv\'s ocpasswd file; their crypt hashes stay valid until the password is next set'))
    .requiredOption('--ocpasswd <file>', 'the ocpasswd file (username:groups:hash lines)')
    .option('--replace', 'replace users that already exist (default: keep them)')
    .action((opts: { config?: string; ocpasswd: string; replace?: boolean }) => {
      const cfg = config(opts.config);
      let data: Buffer;
      try {
        data = readFileSync(opts.ocpasswd);
      } catch (e) {
        throw new CliError(`cannot read ${opts.ocpasswd}: ${(e as Error).message}`, 2);
      }
      let parsed;
      try {
        parsed = parseOcpasswd(data);
      } catch (e) {
        if (e instanceof OcpasswdError) throw new CliError(`${opts.ocpasswd}: ${e.message}; nothing imported`, 2);
        throw e;
      }
      for (const s of parsed.skipped) process.stderr.write(`${opts.ocpasswd}:${s.line}: ${s.name ? `user ${s.name}: ` : ''}skipped: ${s.reason}\n`);
      const known = new Set(cfg.groups.map((g) => g.name));
      for (const u of parsed.users) {
        const unknown = (u.groups ?? []).filter((g) => !known.has(g));
        if (unknown.length) process.stderr.write(`${opts.ocpasswd}:${u.line}: user ${u.name}: warning: group${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} not in the configuration (configured: ${[...known].join(', ') || 'none'})\n`);
      }
      const store = UserStore.inState(cfg.state);
      const kept = store.putHashed(parsed.users, opts.replace === true);
      for (const name of kept) process.stderr.write(`user ${name}: exists, kept (use --replace to overwrite)\n`);
      const imported = parsed.users.length - kept.length;
      process.stdout.write(`imported ${imported} user${imported === 1 ? '' : 's'}; skipped ${parsed.skipped.length + kept.length} (${parsed.skipped.length} not importable, ${kept.length} existing)\n`);
    });
}
