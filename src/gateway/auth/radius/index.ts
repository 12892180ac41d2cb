/** The RADIUS backend's public API (the engine wires these in). */
export { RadiusMethod, type RadiusMethodOptions, type RadiusChallengeState } from './method.js';
export { RadiusAccounting, accountingFor, TERMINATE_CAUSES, type AccountingSession, type RadiusAccountingOptions, type TerminateCause } from './accounting.js';
export { parseServerList, type RadiusServer, type RadiusLog } from './client.js';
