/**
 * What the client tells the person running it: one line per step of the connection, on stderr
 * (stdout is kept for --authenticate / --cookieonly output that scripts read). Under --verbose
 * each line carries the time since start, so a slow step stands out.
 *
 * Never used on the per-packet path.
 */

export interface ProgressOptions {
  /** -1 quiet (warnings and errors only), 0 normal, 1 verbose (-v), 2 debug (-vv) */
  verbosity: number;
  /** --dump-http-traffic */
  dumpHttp: boolean;
  out?: NodeJS.WritableStream;
  /** start of the clock for timings */
  t0?: number;
}

export class Progress {
  readonly verbosity: number;
  readonly dumpHttp: boolean;
  private readonly out: NodeJS.WritableStream;
  private readonly t0: number;

  constructor(o: ProgressOptions) {
    this.verbosity = o.verbosity;
    this.dumpHttp = o.dumpHttp;
    this.out = o.out ?? process.stderr;
    this.t0 = o.t0 ?? Date.now();
  }

  /** Milliseconds since start. */
  elapsed(): number {
    return Date.now() - this.t0;
  }

  private line(text: string): void {
    const suffix = this.verbosity >= 1 ? `  [+${this.elapsed()} ms]` : '';
    this.out.write(text + suffix + '\n');
  }

  /** A step a person follows (shown unless --quiet). */
  step(text: string): void {
    if (this.verbosity >= 0) this.line(text);
  }

  /** Detail shown with -v. */
  info(text: string): void {
    if (this.verbosity >= 1) this.line(text);
  }

  /** Detail shown with -vv. */
  debug(text: string): void {
    if (this.verbosity >= 2) this.line(text);
  }

  warn(text: string): void {
    this.line(`WARNING: ${text}`);
  }

  /** A block the user must see (banner, certificate warning): shown even with --quiet. */
  notice(text: string): void {
    this.out.write(text.endsWith('\n') ? text : text + '\n');
  }

  /** --dump-http-traffic: request/response text, each line prefixed with '>' or '<'. */
  dump(direction: '>' | '<', text: string): void {
    if (!this.dumpHttp) return;
    const lines = text.replace(/\r\n/g, '\n').replace(/\n$/, '').split('\n');
    this.out.write(lines.map((l) => `${direction} ${l}`).join('\n') + '\n');
  }
}
