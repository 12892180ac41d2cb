/**
 * `sslgate` command line: one file per command (serve, user, connect, ...), registered here.
 * Expected failures print one clear line and exit non-zero; stack traces only with DEBUG set.
 * Run by main.ts (dist/src) and by the bundle's entry (bundle-main.ts, scripts/bundle.mjs).
 */
import { Command, CommanderError } from 'commander';
import { registerCommands } from './commands.js';
import { VERSION } from '../version.js';
import { CliError } from './errors.js';

export async function runCli(): Promise<void> {
  const program = new Command('sslgate')
    .description('AnyConnect-compatible SSL VPN gateway and client')
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride();

  await registerCommands(program, process.argv.slice(2));

  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) process.exit(e.exitCode);
    if (e instanceof CliError) {
      process.stderr.write(`sslgate: ${e.message}\n`);
      process.exit(e.exitCode);
    }
    if (process.env['DEBUG']) throw e;
    process.stderr.write(`sslgate: ${(e as Error).message ?? String(e)}\n`);
    process.exit(1);
  }
}
