/** Version reported in <version who="sg">, User-Agent and --version. */
export const VERSION = '0.1.0';
export const PRODUCT = 'sslgate';
