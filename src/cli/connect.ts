/** `sslgate connect URL`: placeholder until the client lands (issue 3). */
import type { Command } from 'commander';
import { CliError } from './errors.js';

export function register(program: Command): void {
  program
    .command('connect')
    .description('connect to an AnyConnect-compatible gateway (client)')
    .argument('<url>')
    .action(() => {
      throw new CliError('the client is not built yet');
    });
}
