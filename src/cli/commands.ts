/** The list of commands. Each command file exports register(program). */
import type { Command } from 'commander';
import { register as registerServe } from './serve.js';
import { register as registerUser } from './user.js';
import { register as registerConnect } from './connect.js';
import { register as registerCtl } from './ctl.js';
import { register as registerDemo } from './demo.js';

export function registerCommands(program: Command): void {
  registerServe(program);
  registerUser(program);
  registerConnect(program);
  registerCtl(program);
  registerDemo(program);
}
