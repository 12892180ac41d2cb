/**
 * The CLI bundle's entry (scripts/bundle.mjs): a CommonJS bundle has no top-level await. An
 * error runCli rethrows (DEBUG set) ends the process as an unhandled rejection: same exit 1
 * and stack as main.ts's top-level await.
 */
import { runCli } from './cli.js';

void runCli();
