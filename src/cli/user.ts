/** `sslgate user add|del|passwd|list|import|totp|expire`: the gateway's local user store. */
import type { Command } from 'commander';
import { ConfigError, loadConfig, type GatewayConfig } from '../gateway/config.js';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { formatTotpSecret, otpauthUri, parseTotpSecret, TOTP_SECRET_BYTES, TotpError } from '../protocol/totp.js';
import { OcpasswdError, parseOcpasswd } from '../gateway/ocpasswd.js';
import { hashKind, UserStore, USER_NAME, type UserRecord } from '../gateway/user-store.js';
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

/** The flags `user list` shows after the hash kind: "totp", "expired", or "-". */
function flags(u: UserRecord): string {
  const f = [...(u.totp ? ['totp'] : []), ...(u.mustChange ? ['expired'] : [])];
  return f.length ? f.join(',') : '-';
}

/** The QR code of `text` in terminal characters (two rows of modules per line). */
async function terminalQr(text: string): Promise<string> {
  // Loaded only here: `user add` and friends need not pay for it.
  const qrcode = await import('qrcode');
  return qrcode.toString(text, { type: 'terminal', small: true, errorCorrectionLevel: 'M' });
}

export function register(program: Command): void {
  const user = program.command('user').description('manage the gateway\'s local users (stored in the state folder)');
  const withConfig = (c: Command): Command => c.option('-c, --config <file>', 'gateway configuration (for the state folder and groups)');

  withConfig(user.command('add').argument('<name>').description('add a user; the password is read from stdin'))
    .option('-g, --groups <list>', 'comma-separated groups the user may use (default: all)')
    .option('-e, --expire', 'the user must choose a new password at the first login')
    .action(async (name: string, opts: { config?: string; groups?: string; expire?: boolean }) => {
      const cfg = config(opts.config);
      const store = UserStore.inState(cfg.state);
      if (store.get(name)) throw new CliError(`user ${name} exists (use 'user passwd')`);
      const groups = parseGroups(cfg, opts.groups);
      await store.set(name, await readSecret(`Password for ${name}: `, true), groups, opts.expire === true);
      process.stdout.write(`added user ${name}${groups ? ` (groups: ${groups.join(', ')})` : ''}${opts.expire ? ' (password expired: to be changed at the first login)' : ''}\n`);
    });

  withConfig(user.command('passwd').argument('<name>').description('set a user\'s password, read from stdin (this also ends an expiry)'))
    .option('-g, --groups <list>', 'also set the groups (comma-separated)')
    .option('-e, --expire', 'the user must choose a new password at the next login')
    .action(async (name: string, opts: { config?: string; groups?: string; expire?: boolean }) => {
      const cfg = config(opts.config);
      const store = UserStore.inState(cfg.state);
      if (!store.get(name)) throw new CliError(`no user ${name}`);
      await store.set(name, await readSecret(`New password for ${name}: `, true), parseGroups(cfg, opts.groups), opts.expire === true);
      process.stdout.write(`password of ${name} changed${opts.expire ? ' (expired: to be changed at the next login)' : ''}\n`);
    });

  withConfig(user.command('expire').argument('<name>').description('expire a user\'s password: a new one must be chosen at the next login'))
    .option('--clear', 'end the expiry instead (the current password stays valid)')
    .action((name: string, opts: { config?: string; clear?: boolean }) => {
      const store = UserStore.inState(config(opts.config).state);
      const rec = store.get(name);
      if (!rec) throw new CliError(`no user ${name}`);
      if (!opts.clear && hashKind(rec.hash) === 'none') throw new CliError(`user ${name} has no local password to expire (a TOTP-only user)`);
      store.setMustChange(name, !opts.clear);
      process.stdout.write(opts.clear ? `password of ${name} no longer expired\n` : `password of ${name} expired: to be changed at the next login\n`);
    });

  withConfig(
    user
      .command('totp')
      .argument('<name>')
      .description('enrol a user for TOTP (second factor): makes a secret and prints its otpauth:// URI and QR code; a name that is not a local user is added without a password (for RADIUS/LDAP users)'),
  )
    .option('--secret <base32>', 'use this secret (base32) instead of a new random one')
    .option('--remove', 'remove the user\'s TOTP enrolment')
    .option('--issuer <text>', 'the issuer the authenticator app shows', 'sslgate')
    .option('--no-qr', 'print the URI without the QR code')
    .action(async (name: string, opts: { config?: string; secret?: string; remove?: boolean; issuer: string; qr: boolean }) => {
      const store = UserStore.inState(config(opts.config).state);
      if (opts.remove) {
        if (opts.secret !== undefined) throw new CliError('--remove and --secret do not go together', 2);
        const rec = store.get(name);
        if (!rec) throw new CliError(`no user ${name}`);
        if (!rec.totp) throw new CliError(`user ${name} is not enrolled for TOTP`);
        store.setTotp(name, undefined);
        process.stdout.write(`removed the TOTP enrolment of ${name}\n`);
        if (hashKind(rec.hash) === 'none') process.stdout.write(`user ${name} now has neither a local password nor TOTP; 'sslgate user del ${name}' removes it\n`);
        return;
      }
      if (!USER_NAME.test(name)) throw new CliError(`invalid user name ${JSON.stringify(name)} (1-64 of A-Z a-z 0-9 . _ @ + -)`, 2);
      let secret: string;
      let uri: string;
      try {
        secret = formatTotpSecret(opts.secret !== undefined ? parseTotpSecret(opts.secret) : randomBytes(TOTP_SECRET_BYTES));
        uri = otpauthUri({ issuer: opts.issuer, account: name, secret });
      } catch (e) {
        if (e instanceof TotpError) throw new CliError(e.message, 2);
        throw e;
      }
      const { added, replaced } = store.setTotp(name, secret);
      const note = added ? ' (a new user without a local password: for a RADIUS or LDAP first factor)' : replaced ? ' (replacing the earlier secret: the old authenticator entry no longer works)' : '';
      process.stdout.write(`enrolled ${name} for TOTP${note}\n`);
      process.stdout.write(`secret: ${secret}\n`);
      process.stdout.write(`${uri}\n`);
      if (opts.qr) process.stdout.write(await terminalQr(uri));
      process.stdout.write(`openconnect answers the code by itself with: --token-mode=totp --token-secret=base32:${secret}\n`);
    });

  withConfig(user.command('del').argument('<name>').description('delete a user')).action((name: string, opts: { config?: string }) => {
    const store = UserStore.inState(config(opts.config).state);
    if (!store.delete(name)) throw new CliError(`no user ${name}`);
    process.stdout.write(`deleted user ${name}\n`);
  });

  withConfig(user.command('list').description('list users: name, groups, created, hash kind (none: no local password), flags (totp, expired)'))
    .option('--json', 'machine-readable output')
    .action((opts: { config?: string; json?: boolean }) => {
      const users = UserStore.inState(config(opts.config).state).list();
      if (opts.json) {
        process.stdout.write(JSON.stringify(users.map((u) => ({ name: u.name, groups: u.groups ?? null, created: u.created, hash: hashKind(u.hash), totp: u.totp !== undefined, expired: u.mustChange === true }))) + '\n');
        return;
      }
      for (const u of users) process.stdout.write(`${u.name}\t${u.groups ? u.groups.join(',') : '(all groups)'}\t${u.created}\t${hashKind(u.hash)}\t${flags(u)}\n`);
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
