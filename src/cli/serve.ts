/**
 * `sslgate serve [--config FILE]`: runs the gateway in the foreground, logs to stdout, with its
 * operations (admin API, metrics; gateway/ops/). SIGHUP reloads the config and the users.
 */
import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../gateway/config.js';
import { Gateway } from '../gateway/gateway.js';
import { startOps, type Ops } from '../gateway/ops/ops.js';
import { TunError } from '../os/tun.js';
import { createLogger } from '../log.js';
import { formatIpv4 } from '../protocol/ipv4.js';
import { CliError } from './errors.js';

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the gateway in the foreground (needs root for the TUN device)')
    .option('-c, --config <file>', 'YAML configuration file (default: embedded defaults)')
    .option('--log-level <level>', 'trace, debug, info, warn, error (default: log.level of the config, else info)')
    .option('--log-format <format>', 'json, pretty (human) or auto (pretty on a terminal) (default: log.format of the config, else auto)')
    .action(async (opts: { config?: string; logLevel?: string; logFormat?: string }) => {
      let cfg;
      try {
        cfg = loadConfig(opts.config);
      } catch (e) {
        if (e instanceof ConfigError) throw new CliError(e.message, 2);
        throw e;
      }
      if (process.getuid?.() !== 0) throw new CliError('serve needs root (it creates a TUN device and assigns addresses); run it as root');
      const format = opts.logFormat ?? cfg.log.format;
      if (format !== 'json' && format !== 'pretty' && format !== 'auto') throw new CliError(`--log-format must be json, pretty or auto, got ${format}`, 2);
      const log = createLogger({ level: opts.logLevel ?? cfg.log.level, format });
      const gw = new Gateway(cfg, log);
      let ops: Ops;
      try {
        await gw.start();
        ops = await startOps(gw, log);
      } catch (e) {
        await gw.stop().catch(() => undefined);
        if (e instanceof TunError) throw new CliError(`cannot open the TUN device: ${e.message}`);
        // The TLS, admin or metrics listener: the error names its address.
        const err = e as NodeJS.ErrnoException & { address?: string; port?: number };
        if (err.code === 'EADDRINUSE' || err.code === 'EACCES' || err.code === 'EADDRNOTAVAIL') {
          throw new CliError(`cannot listen on ${err.address ?? cfg.listen.host}${err.port ? `:${err.port}` : ''}: ${err.code}`);
        }
        throw e;
      }
      const where = `${cfg.listen.host}:${cfg.listen.port}`;
      const cfgArg = cfg.file ? ` --config ${cfg.file}` : '';
      const host = cfg.listen.host === '0.0.0.0' ? '<this-host>' : cfg.listen.host;
      const url = cfg.listen.port === 443 ? `https://${host}` : `https://${host}:${cfg.listen.port}`;
      log.info({ listen: where, tun: gw.tunName, tunnelAddress: formatIpv4(cfg.network.address.address), groups: cfg.groups.map((g) => g.name), users: gw.users.list().length, certificate: gw.identity.certFile, pin: gw.identity.pin }, 'gateway listening');
      process.stdout.write(
        [
          `sslgate gateway listening on ${where}` + (gw.identity.generated ? ` (generated a self-signed certificate: ${gw.identity.certFile})` : ''),
          `  server certificate: --servercert ${gw.identity.pin}`,
          gw.users.list().length === 0 ? `  no users yet: add one with   echo 'PASSWORD' | sslgate user add NAME${cfgArg}` : `  users: ${gw.users.list().length}`,
          `  connect with:  openconnect --servercert ${gw.identity.pin} ${url}`,
          ops.where.adminSocket ? `  control:  sslgate ctl${cfgArg} status   (admin socket ${ops.where.adminSocket})` : '  control: no admin socket (admin.socket: none)',
          ...(ops.where.metrics ? [`  metrics:  ${ops.where.metrics}`] : []),
          '',
        ].join('\n'),
      );
      // SIGHUP: re-read config and users (the result is logged by the gateway).
      process.on('SIGHUP', () => {
        log.info({ signal: 'SIGHUP' }, 'reloading');
        void gw.reload();
      });
      await new Promise<void>((resolve) => {
        const onSignal = (sig: string): void => {
          log.info({ signal: sig }, 'shutting down');
          void ops.close().then(() => gw.stop()).then(resolve);
        };
        process.once('SIGTERM', () => onSignal('SIGTERM'));
        process.once('SIGINT', () => onSignal('SIGINT'));
      });
      process.exit(0);
    });
}
