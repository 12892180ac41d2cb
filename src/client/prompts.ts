/**
 * Where form values come from when they are not in the options: the terminal (interactive), or
 * lines of stdin (--passwd-on-stdin, --cookie-on-stdin). Prompts go to stderr so stdout stays
 * clean for --authenticate output. Hidden input (passwords) is read in raw mode without echo.
 */
import { createInterface, type Interface } from 'node:readline';

export class InterruptedError extends Error {
  constructor() {
    super('interrupted');
    this.name = 'InterruptedError';
  }
}

export interface Prompter {
  /** a person can answer questions */
  readonly interactive: boolean;
  ask(label: string, secret: boolean): Promise<string>;
  /** next line of stdin (without the newline), undefined at EOF */
  stdinLine(): Promise<string | undefined>;
  close(): void;
}

/** Lines of a non-terminal stdin, read lazily (the writer may send them one at a time). */
class StdinLines {
  private rl: Interface | null = null;
  private readonly lines: string[] = [];
  private readonly waiters: Array<(l: string | undefined) => void> = [];
  private ended = false;

  private start(): void {
    if (this.rl) return;
    this.rl = createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
    this.rl.on('line', (l) => {
      const w = this.waiters.shift();
      if (w) w(l);
      else this.lines.push(l);
    });
    this.rl.on('close', () => {
      this.ended = true;
      for (const w of this.waiters.splice(0)) w(undefined);
    });
  }

  next(): Promise<string | undefined> {
    this.start();
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((r) => this.waiters.push(r));
  }

  close(): void {
    this.rl?.close();
    this.rl = null;
    // Let the process exit even if the writer keeps the pipe open.
    if (!process.stdin.isTTY) process.stdin.destroy();
  }
}

function askVisible(label: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    rl.on('SIGINT', () => {
      rl.close();
      reject(new InterruptedError());
    });
    rl.question(`${label} `, (answer) => {
      rl.close();
      resolve(answer);
    });
  });
}

function askHidden(label: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    let value = '';
    const wasRaw = stdin.isRaw;
    // Echo off before the prompt appears: whatever is typed once it shows must not be echoed.
    stdin.setRawMode(true);
    process.stderr.write(`${label} `);
    stdin.resume();
    const finish = (err?: Error): void => {
      stdin.removeListener('data', onData);
      stdin.setRawMode(wasRaw);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003') return finish(new InterruptedError()); // Ctrl-C
        if (ch === '\u0004' && value === '') return finish(new InterruptedError()); // Ctrl-D
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

export interface PrompterOptions {
  /** --non-inter, or stdin is reserved for --passwd-on-stdin / --cookie-on-stdin */
  nonInteractive: boolean;
}

export function createPrompter(o: PrompterOptions): Prompter {
  const stdin = new StdinLines();
  const interactive = !o.nonInteractive && process.stdin.isTTY === true && process.stderr.isTTY === true;
  return {
    interactive,
    ask(label, secret) {
      if (!interactive) return Promise.reject(new Error(`cannot ask "${label}": not interactive`));
      return secret ? askHidden(label) : askVisible(label);
    },
    stdinLine: () => stdin.next(),
    close: () => stdin.close(),
  };
}
