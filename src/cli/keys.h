/* cli/keys.h — `lookalike keys add|list|revoke`: the API keys of a catalog (catalog/keys.h),
 * which `serve --require-key` asks for. Called from cli/main.c with the full argv. */
#ifndef LK_CLI_KEYS_H
#define LK_CLI_KEYS_H

/* Runs `lookalike keys ...`; returns the process exit code. */
int lk_cli_keys(int argc, char **argv);

#endif
