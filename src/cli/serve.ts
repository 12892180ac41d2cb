/**
 * `sslgate serve [--config FILE]`: runs the gateway in the foreground, logs to stdout. This
 * process stays root and small (gateway/priv/parent.ts); the part that talks to the network runs
 * as run-as-user without capabilities (gateway/priv/network-process.ts). SIGHUP reloads the
 * config and the users; SIGTERM/SIGINT say goodbye to every client and exit 0.
 */
import { writeSync } from 'node:fs';
import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../gateway/config.js';
import { PrivilegedParent, ServeError } from '../gateway/priv/parent.js';
import { RunAsError } from '../gateway/priv/run-as.js';
import { UnsafePathError } from '../os/safe-files.js';
import { TunError } from '../os/tun.js';
import { createLogger } from '../log.js';
import { formatIpv4 } from '../protocol/ipv4.js';
import { CliError } from './errors.js';
import { isSupervised, RESTART_EXIT_CODE, superviseRestarts } from './serve-supervisor.js';

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the gateway in the foreground (start it as root: it creates the TUN device, then runs its network part as run-as-user)')
    .option('-c, --config <file>', 'YAML configuration file (default: embedded defaults)')
    .option('--log-level <level>', 'trace, debug, info, warn, error (default: log.level of the config, else info)')
    .option('--log-format <format>', 'json, pretty (human) or auto (pretty on a terminal) (default: log.format of the config, else auto)')
    .option('--reset-state', 'move an unreadable session database (STATE/sessions.db) aside and start with an empty one: every user logs in again')
    .action(async (opts: { config?: string; logLevel?: string; logFormat?: string; resetState?: boolean }) => {
      let cfg;
      try {
        cfg = loadConfig(opts.config);
      } catch (e) {
        if (e instanceof ConfigError) throw new CliError(e.message, 2);
        throw e;
      }
      const format = opts.logFormat ?? cfg.log.format;
      if (format !== 'json' && format !== 'pretty' && format !== 'auto') throw new CliError(`--log-format must be json, pretty or auto, got ${format}`, 2);
      const level = opts.logLevel ?? cfg.log.level;
      const gw = new PrivilegedParent({ config: cfg, logLevel: level, logFormat: format, ...(opts.resetState ? { resetState: true } : {}) });
      try {
        await gw.start();
      } catch (e) {
        await gw.stop('start-up failed').catch(() => undefined);
        if (e instanceof ServeError || e instanceof RunAsError || e instanceof UnsafePathError) throw new CliError(e.message);
        if (e instanceof TunError) throw new CliError(`cannot open the TUN device: ${e.message}`);
        throw e;
      }
      const log = createLogger({ level, format }).child({ proc: 'privileged' });
      const where = `${cfg.listen.host}:${cfg.listen.port}`;
      const cfgArg = cfg.file ? ` --config ${cfg.file}` : '';
      const host = cfg.listen.host === '0.0.0.0' ? '<this-host>' : cfg.listen.host;
      const url = cfg.listen.port === 443 ? `https://${host}` : `https://${host}:${cfg.listen.port}`;
      const cert = gw.certificate;
      const metrics = cfg.metrics.listen ? `http://${cfg.metrics.listen.host}:${cfg.metrics.listen.port}${cfg.metrics.path}` : null;
      // The banner first and synchronously (pino writes fd 1 synchronously too): whoever waits
      // for the "gateway listening" record then already has the pin line.
      writeSync(
        1,
        [
          `sslgate gateway listening on ${where}` + (cert.generated ? ` (generated a self-signed certificate: ${cert.file})` : ''),
          `  server certificate: --servercert ${gw.pin}`,
          gw.userCount === 0 ? `  no users yet: add one with   echo 'PASSWORD' | sslgate user add NAME${cfgArg}` : `  users: ${gw.userCount}`,
          `  connect with:  openconnect --servercert ${gw.pin} ${url}`,
          cfg.admin.socket ? `  control:  sslgate ctl${cfgArg} status   (admin socket ${cfg.admin.socket})` : '  control: no admin socket (admin.socket: none)',
          ...(metrics ? [`  metrics:  ${metrics}`] : []),
          `  processes: privileged ${process.pid} (root), network ${gw.networkPids.join(", ")} (${cfg.runAsUser}:${cfg.runAsGroup}, no capabilities)`,
          '',
        ].join('\n'),
      );
      log.info({ listen: where, tun: gw.tun, tunnelAddress: formatIpv4(cfg.network.address.address), groups: cfg.groups.map((g) => g.name), users: gw.userCount, certificate: cert.file, pin: gw.pin, privilegedPid: process.pid, networkPid: gw.networkPid, runAs: `${cfg.runAsUser}:${cfg.runAsGroup}` }, 'gateway listening');
      const onHup = (): void => {
        log.info({ signal: 'SIGHUP' }, 'reloading');
        gw.reload();
      };
      process.on('SIGHUP', onHup);
      if (isSupervised()) {
        // The supervisor (the first `serve`, see serve-supervisor.ts) died: hand the sessions over
        // and go, so that the service manager's next `serve` can take the port, the TUN and them.
        const supervisor = process.ppid;
        setInterval(() => {
          if (process.ppid === supervisor) return;
          log.error({ supervisor }, 'the supervising serve process is gone; handing the sessions over and exiting');
          void gw.handover().then(() => process.exit(1));
        }, 1000).unref();
      }
      const how = await new Promise<'stop' | 'restart'>((resolve) => {
        const onSignal = (sig: string): void => {
          log.info({ signal: sig }, 'shutting down');
          void gw.stop(sig).then(() => resolve('stop'));
        };
        process.once('SIGTERM', () => onSignal('SIGTERM'));
        process.once('SIGINT', () => onSignal('SIGINT'));
        // `ctl restart`: hand every session over to the next process (serve-supervisor.ts).
        gw.onRestart = () => {
          log.info({}, 'restarting: handing every session over to a new gateway process');
          void gw.handover().then(() => resolve('restart'));
        };
      });
      if (how === 'stop') process.exit(0);
      process.off('SIGHUP', onHup);
      process.removeAllListeners('SIGTERM');
      process.removeAllListeners('SIGINT');
      if (isSupervised()) process.exit(RESTART_EXIT_CODE);
      const listen = gw.listenFd === null ? null : { fd: gw.listenFd, address: `${cfg.listen.host}:${cfg.listen.port}` };
      process.exit(await superviseRestarts((pid) => log.info({ pid }, 'started the new gateway process (this one now only supervises it)'), listen));
    });
}
