/** `sslgate serve [--config FILE]`: runs the gateway in the foreground, logs to stdout. */
import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../gateway/config.js';
import { Gateway } from '../gateway/gateway.js';
import { TunError } from '../os/tun.js';
import { createLogger } from '../log.js';
import { formatIpv4 } from '../protocol/ipv4.js';
import { CliError } from './errors.js';

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the gateway in the foreground (needs root for the TUN device)')
    .option('-c, --config <file>', 'YAML configuration file (default: embedded defaults)')
    .option('--log-level <level>', 'trace, debug, info, warn, error', 'info')
    .action(async (opts: { config?: string; logLevel: string }) => {
      let cfg;
      try {
        cfg = loadConfig(opts.config);
      } catch (e) {
        if (e instanceof ConfigError) throw new CliError(e.message, 2);
        throw e;
      }
      if (process.getuid?.() !== 0) throw new CliError('serve needs root (it creates a TUN device and assigns addresses); run it as root');
      const log = createLogger({ level: opts.logLevel });
      const gw = new Gateway(cfg, log);
      try {
        await gw.start();
      } catch (e) {
        await gw.stop().catch(() => undefined);
        if (e instanceof TunError) throw new CliError(`cannot open the TUN device: ${e.message}`);
        const err = e as NodeJS.ErrnoException;
        if (err.code === 'EADDRINUSE' || err.code === 'EACCES' || err.code === 'EADDRNOTAVAIL') {
          throw new CliError(`cannot listen on ${cfg.listen.host}:${cfg.listen.port}: ${err.code}`);
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
          '',
        ].join('\n'),
      );
      await new Promise<void>((resolve) => {
        const onSignal = (sig: string): void => {
          log.info({ signal: sig }, 'shutting down');
          void gw.stop().then(resolve);
        };
        process.once('SIGTERM', () => onSignal('SIGTERM'));
        process.once('SIGINT', () => onSignal('SIGINT'));
      });
      process.exit(0);
    });
}
