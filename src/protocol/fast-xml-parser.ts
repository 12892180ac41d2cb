/**
 * fast-xml-parser, loaded the fast way. Unbundled, the package's single-file CommonJS build
 * loads in ~9 ms while its ESM entry (38 modules) takes ~55 ms, which every `sslgate connect`
 * paid before the first byte went out. Same classes, same types. The bundle
 * (scripts/bundle.mjs) replaces this file with a plain re-export, so the library is bundled in
 * rather than read from node_modules at run time.
 */
import { createRequire } from 'node:module';

const fxp = createRequire(import.meta.url)('fast-xml-parser') as typeof import('fast-xml-parser');
export const XMLBuilder = fxp.XMLBuilder;
export const XMLParser = fxp.XMLParser;
export const XMLValidator = fxp.XMLValidator;
