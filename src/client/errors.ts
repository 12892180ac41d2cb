/**
 * Expected failures of the client, each with the exit code the CLI uses. Their messages are
 * written for the person at the terminal (the CLI prints them as one line, no stack trace).
 *
 * Exit codes: 1 = could not connect / tunnel failed, 2 = authentication failed (wrong
 * credentials, missing certificate), 3 = the gateway's certificate was not trusted.
 */

export class ClientError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'ClientError';
  }
}

export class AuthFailedError extends ClientError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'AuthFailedError';
  }
}

export class TrustError extends ClientError {
  constructor(message: string) {
    super(message, 3);
    this.name = 'TrustError';
  }
}
