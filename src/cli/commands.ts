/**
 * The list of commands. Each command file exports register(program). Only the command being run
 * is loaded: `sslgate connect` must not pay for loading the gateway (pino, yaml, the DTLS
 * server...): measured 419-469 ms -> 256-300 ms to `connect --help` on a loaded machine.
 * `sslgate` alone, `--help` and unknown commands load all of them, so help lists everything.
 */
import type { Command } from 'commander';

type CommandModule = { register(program: Command): void };

const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  serve: () => import('./serve.js'),
  user: () => import('./user.js'),
  connect: () => import('./connect.js'),
  ctl: () => import('./ctl.js'),
  demo: () => import('./demo.js'),
};

export async function registerCommands(program: Command, args: string[]): Promise<void> {
  const name = args.find((a) => !a.startsWith('-'));
  const only = name !== undefined ? COMMANDS[name] : undefined;
  if (only) {
    (await only()).register(program);
    return;
  }
  for (const load of Object.values(COMMANDS)) (await load()).register(program);
}
