/* cli/serve.h — the `lookalike serve` subcommand: the web page and JSON API.
 * Called from cli/main.c with the full argv (argv[1] == "serve"). */
#ifndef LK_CLI_SERVE_H
#define LK_CLI_SERVE_H

/* Runs `lookalike serve ...` until SIGINT/SIGTERM; returns the process exit code. */
int lk_cli_serve(int argc, char **argv);

#endif
