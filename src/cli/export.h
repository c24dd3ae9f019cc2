/* cli/export.h — the `lookalike export` and `lookalike migrate` subcommands: a catalog's
 * vectors and metadata in other vector engines' formats (export/export.h), and a catalog
 * copied across backends (catalog/migrate.h). Called from cli/main.c with the full argv. */
#ifndef LK_CLI_EXPORT_H
#define LK_CLI_EXPORT_H

/* Runs `lookalike export ...`; returns the process exit code. */
int lk_cli_export(int argc, char **argv);
/* Runs `lookalike migrate ...`; returns the process exit code. */
int lk_cli_migrate(int argc, char **argv);

#endif
