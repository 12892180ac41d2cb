/** The CLI from the compiled modules (bin/sslgate's fallback when there is no bundle). */
import { runCli } from './cli.js';

await runCli();
