/**
 * Reads a secret: from a terminal with a prompt and no echo (asked twice when `confirm`), or the
 * first line of a non-terminal stdin (scripts: `echo PASS | sslgate user add NAME`).
 */
import { createInterface } from 'node:readline';
import { CliError } from './errors.js';

async function firstLineOfStdin(): Promise<string> {
  const rl = createInterface({ input: process.stdin, terminal: false });
  for await (const line of rl) {
    rl.close();
    return line;
  }
  return '';
}

function promptHidden(prompt: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const out = rl as unknown as { _writeToOutput: (s: string) => void };
    // Echo the prompt, not the keystrokes.
    out._writeToOutput = (s: string): void => {
      if (s.startsWith(prompt)) process.stderr.write(prompt);
    };
    rl.question(prompt, (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
  });
}

export async function readSecret(prompt: string, confirm = false): Promise<string> {
  let secret: string;
  if (process.stdin.isTTY) {
    secret = await promptHidden(prompt);
    if (confirm && (await promptHidden('Again: ')) !== secret) throw new CliError('the two entries differ');
  } else {
    secret = await firstLineOfStdin();
  }
  if (!secret) throw new CliError('empty password');
  return secret;
}
