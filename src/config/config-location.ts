/**
 * Where the config file is looked for. Apart from load.ts (and its schema) so that the
 * command line can find the file without loading the validator: a Node 20 primary's
 * supervisor (cluster/primary-flags.ts) loads no more than it needs to start the primary.
 */

/** Where the CLI looks when neither `--config` nor STRATIX_CONFIG is given. */
export const DEFAULT_CONFIG_PATH = 'config/route.json';
export const CONFIG_ENV_VAR = 'STRATIX_CONFIG';
