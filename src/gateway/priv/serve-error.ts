/** Start-up problems worded for the person who ran `serve` (serve.ts prints them). */
export class ServeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServeError';
  }
}
