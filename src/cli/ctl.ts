/**
 * `sslgate ctl [--config FILE] <command>`: a thin client of the running gateway's control API
 * (gateway/ops/admin-api.ts), occtl's commands with human tables by default and `--json`.
 * Exit status: 0 done, 1 failure (gateway unreachable, refused reload), 2 not found / bad usage.
 */
import type { Command } from 'commander';
import type { SessionView } from '../gateway/ops/session-view.js';
import { call, locateAdmin, stream, type AdminEndpoint, type LocateOptions } from './ctl-client.js';
import { bansTable, eventLine, sessionDetail, sessionsTable, statusText } from './ctl-format.js';
import { CliError } from './errors.js';

interface CtlOptions extends LocateOptions {
  json?: boolean;
}

type Out = (json: unknown) => string;

/** Runs one request and prints JSON or the human form. A 404 from the API exits with 2. */
async function run(cmd: Command, method: string, path: string, human: Out): Promise<void> {
  const o = cmd.optsWithGlobals<CtlOptions>();
  const ep = locateAdmin(o);
  let body: unknown;
  try {
    body = await call(ep, method, path);
  } catch (e) {
    const status = (e as { status?: number }).status;
    if (status === 404) throw new CliError((e as Error).message, 2);
    // A refused reload answers 422 with the reason: print it like a result, exit 1.
    if (status === 422 && o.json) {
      process.stdout.write(JSON.stringify((e as { body?: unknown }).body) + '\n');
      process.exit(1);
    }
    throw e;
  }
  process.stdout.write(o.json ? JSON.stringify(body, null, 2) + '\n' : human(body));
}

/** `disconnect 7` or `disconnect user alice` -> API path */
function target(what: string, name: string | undefined, action: string): string {
  if (what === 'user') {
    if (!name) throw new CliError(`usage: ctl ${action} user NAME`, 2);
    return `/v1/users/${encodeURIComponent(name)}/${action}`;
  }
  if (!/^\d+$/.test(what) || name !== undefined) throw new CliError(`usage: ctl ${action} ID | ctl ${action} user NAME`, 2);
  return `/v1/sessions/${what}/${action}`;
}

function endpointOf(cmd: Command): AdminEndpoint {
  return locateAdmin(cmd.optsWithGlobals<CtlOptions>());
}

export function register(program: Command): void {
  const ctl = program
    .command('ctl')
    .description('control a running gateway: sessions, disconnect, bans, reload, events (occtl-like)')
    .option('-c, --config <file>', 'the gateway\'s configuration (to find its admin socket)')
    .option('--socket <path>', 'admin Unix socket (default: from the config)')
    .option('--url <url>', 'TCP admin listener, http://HOST:PORT (token: --token-file or $SSLGATE_ADMIN_TOKEN)')
    .option('--token-file <file>', 'bearer token for --url')
    .option('--json', 'print the API\'s JSON');

  ctl.command('status').description('uptime, sessions, traffic, logins, bans, DTLS share').action((_o, cmd: Command) =>
    run(cmd, 'GET', '/v1/status', (b) => statusText(b as Parameters<typeof statusText>[0])));

  ctl.command('users').description('connected sessions (occtl show users)').action((_o, cmd: Command) =>
    run(cmd, 'GET', '/v1/users', (b) => sessionsTable(b as SessionView[], false) || 'no connected users\n'));

  ctl.command('sessions').description('every session, also those waiting for a cookie reconnect')
    .option('--user <name>', 'only this user\'s')
    .action((o: { user?: string }, cmd: Command) =>
      run(cmd, 'GET', `/v1/sessions${o.user ? `?user=${encodeURIComponent(o.user)}` : ''}`, (b) => sessionsTable(b as SessionView[], true) || 'no sessions\n'));

  ctl.command('session').argument('<id>').description('one session in detail').action((id: string, _o, cmd: Command) => {
    if (!/^\d+$/.test(id)) throw new CliError('usage: ctl session ID', 2);
    return run(cmd, 'GET', `/v1/sessions/${id}`, (b) => sessionDetail(b as SessionView));
  });

  ctl.command('disconnect').argument('<id|user>').argument('[name]')
    .description('close the tunnel connection; the client may reconnect with its cookie (same address)')
    .action((what: string, name: string | undefined, _o, cmd: Command) =>
      run(cmd, 'POST', target(what, name, 'disconnect'), (b) => {
        const r = b as { disconnected: number[]; notConnected: number[] };
        return `disconnected session(s): ${r.disconnected.join(', ') || 'none'}${r.notConnected.length ? `; not connected: ${r.notConnected.join(', ')}` : ''}\n`;
      }));

  ctl.command('terminate').argument('<id|user>').argument('[name]')
    .description('end the session for good: TERMINATE, cookie invalidated (no reconnect)')
    .action((what: string, name: string | undefined, _o, cmd: Command) =>
      run(cmd, 'POST', target(what, name, 'terminate'), (b) => `terminated session(s): ${(b as { terminated: number[] }).terminated.join(', ')}\n`));

  ctl.command('bans').description('banned addresses and locked user names')
    .option('--scores', 'also addresses and users with points but no ban yet')
    .action((o: { scores?: boolean }, cmd: Command) =>
      run(cmd, 'GET', `/v1/bans${o.scores ? '?scores=1' : ''}`, (b) => bansTable(b as Parameters<typeof bansTable>[0]) || 'no bans\n'));

  ctl.command('unban').argument('<address>').description('lift the ban of an address (with --user: unlock a user name)')
    .option('--user', 'the argument is a user name')
    .action((key: string, o: { user?: boolean }, cmd: Command) =>
      run(cmd, 'DELETE', `/v1/bans/${encodeURIComponent(key)}${o.user ? '?kind=user' : ''}`, () => `unbanned ${key}\n`));

  ctl.command('reload').description('re-read the configuration and the users (like SIGHUP); a broken config is refused')
    .action((_o, cmd: Command) =>
      run(cmd, 'POST', '/v1/reload', (b) => {
        const r = b as { changed: string[]; restartNeeded: string[] };
        return `reloaded; changed: ${r.changed.join(', ') || 'nothing'}${r.restartNeeded.length ? `; needs a restart to apply: ${r.restartNeeded.join(', ')}` : ''}\n`;
      }).catch((e: unknown) => {
        if (e instanceof CliError && (e as { status?: number }).status === 422) throw new CliError(`reload refused, the gateway keeps its running configuration: ${e.message}`, 1);
        throw e;
      }));

  ctl.command('restart').description('replace the running gateway processes by new ones (an upgrade: the binary now on disk), keeping every session; clients reconnect with their cookie')
    .action((_o, cmd: Command) =>
      run(cmd, 'POST', '/v1/restart', (b) => `restarting; ${(b as { sessions: number }).sessions} session(s) handed over to the new gateway process\n`));

  ctl.command('events').description('follow connects, disconnects, auth failures, bans, reloads (Ctrl-C to stop)')
    .option('--types <list>', 'only these event types, comma-separated (login,auth-failure,connect,disconnect,session-end,ban,unban,reload,...)')
    .action(async (o: { types?: string }, cmd: Command) => {
      const json = cmd.optsWithGlobals<CtlOptions>().json === true;
      await stream(endpointOf(cmd), `/v1/events${o.types ? `?types=${encodeURIComponent(o.types)}` : ''}`, (line) => {
        process.stdout.write(json ? line + '\n' : eventLine(JSON.parse(line) as Record<string, unknown>) + '\n');
      });
    });

  ctl.command('metrics').description('the Prometheus metrics text').action(async (_o, cmd: Command) => {
    process.stdout.write(String(await call(endpointOf(cmd), 'GET', '/metrics')));
  });
}
