/*
 * spio_blobcli: shared state of the blobstore command line tool (SPDK's
 * blobcli, examples/blob/cli).
 *
 * Everything runs in one task on the app thread (spio/task.h): the task
 * awaits each blobstore operation in turn, so a command reads top to bottom.
 * Every command that needs the store loads it, does its work and unloads it
 * again, in the shell and script modes too, as SPDK's blobcli does.
 *
 * Files: opts.c (the command parser shared by all modes, usage), main.c
 * (start-up, the task, the command dispatch), shell.c (-S and -T), store.c
 * (load/unload, init, -D, -R, -s bs, -p, -l bdevs), blob.c (-n, -w, -x, -r,
 * -s blobid, -l blobs), data.c (-f, -m, -d), print.c (hex dump).
 */
#ifndef SPIO_BLOBCLI_H
#define SPIO_BLOBCLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "spio/blob.h"

#define CLI_NAME "spio_blobcli"

/* Exit status: 0 done, 1 anything failed (a message went to stderr). */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1

/* blobcli's default configuration file, looked for in the current directory. */
#define CLI_DEFAULT_CONFIG "blobcli.json"

enum cli_action {
	CLI_NONE,
	CLI_IMPORT_BLOB, /* -m */
	CLI_DUMP_BLOB,	 /* -d */
	CLI_FILL,	 /* -f */
	CLI_REM_XATTR,	 /* -r */
	CLI_SET_XATTR,	 /* -x */
	CLI_SET_SUPER,	 /* -p */
	CLI_SHOW_BS,	 /* -s bs */
	CLI_SHOW_BLOB,	 /* -s blobid */
	CLI_CREATE_BLOB, /* -n */
	CLI_LIST_BDEVS,	 /* -l bdevs */
	CLI_LIST_BLOBS,	 /* -l blobs */
	CLI_INIT_BS,	 /* -i */
	CLI_DUMP_BS,	 /* -D */
	CLI_RECOVER,	 /* -R */
	CLI_DELETE_BLOB, /* -w */
	CLI_HELP,	 /* -h */
	CLI_SHELL,	 /* -S (command line only) */
	CLI_SCRIPT,	 /* -T (command line only) */
	CLI_EXIT,	 /* -X (shell and script only) */
};

enum cli_mode {
	CLI_MODE_CMD,
	CLI_MODE_SHELL,
	CLI_MODE_SCRIPT,
};

/* One parsed command; the strings point into its argv, valid while it runs. */
struct cli_cmd {
	enum cli_action action;
	spio_blob_id blobid;
	uint64_t num_clusters; /* -n */
	bool thin;	       /* --thin with -n */
	uint8_t fill_value;    /* -f */
	const char *key;       /* -x, -r */
	const char *value;     /* -x */
	const char *file;      /* -m, -d */
};

/* What lasts across the commands of a run. */
struct cli_state {
	enum cli_mode mode;
	const char *config_file; /* -j / --json */
	char *bdev_name;	 /* -b, owned (a shell line's tokens do not last) */
	bool no_huge;		 /* --no-huge */
	const char *script_file; /* -T FILE */
	bool ignore_errors;	 /* -T FILE ignore */
	struct cli_cmd first;	 /* the command line's command */
	/* -T: ids of the blobs -n made, for $B0, $B1, ... */
	spio_blob_id *script_blobs;
	uint32_t num_script_blobs;
	/* set by the shutdown callback (SIGINT, SIGTERM): stop between steps */
	volatile bool interrupted;
};

extern struct cli_state g_cli;

/* "spio_blobcli: " and the message on stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * opts.c
 */

/*
 * Parse one command (argv[0] is a program name; getopt starts at argv[1])
 * into `cmd`, updating g_cli (-b, -j, ...). `mode` is the mode the command
 * comes from: -j, -S, -T and --no-huge only on the command line, -X never
 * there. 0, or -EINVAL with the reason on stderr.
 */
int cli_parse(int argc, char **argv, enum cli_mode mode, struct cli_cmd *cmd);

/* The full help (command line -h) or just the commands (shell -h), on stdout. */
void cli_usage(bool commands_only);

/* A blob id: decimal or 0x hex, as blobcli takes them. 0 or -EINVAL. */
int cli_parse_blobid(const char *str, spio_blob_id *id);

/*
 * main.c
 */

/* Run one command, loading and unloading the store as it needs. 0 or CLI_EXIT_FAIL. */
int cli_run(const struct cli_cmd *cmd);

/*
 * shell.c
 */

/* -S: read commands from stdin until -X or end of input. 0 or CLI_EXIT_FAIL. */
int cli_shell(void);

/* -T: run the commands of g_cli.script_file. 0 or CLI_EXIT_FAIL. */
int cli_script(void);

/*
 * store.c: everything about the store itself. A loaded store comes with an
 * I/O channel of the task's thread.
 */

struct cli_store {
	struct spio_blob_store *bs;
	struct spio_io_channel *ch;
};

/* Load the store on g_cli.bdev_name (forcing recovery for -R). 0 or CLI_EXIT_FAIL. */
int cli_store_load(struct cli_store *st, bool force_recover);

/* Free the channel and unload. 0 or CLI_EXIT_FAIL. */
int cli_store_unload(struct cli_store *st);

int cli_init_bs(void);
int cli_dump_bs(void);
int cli_list_bdevs(void);
int cli_show_bs(struct cli_store *st);
int cli_set_super(struct cli_store *st, spio_blob_id id);

/*
 * blob.c
 */

/* "blob 0x...: <what>: <what rc means for a blob>" on stderr. */
void cli_blob_err(spio_blob_id id, const char *what, int rc);

int cli_create_blob(struct cli_store *st, const struct cli_cmd *cmd);
int cli_delete_blob(struct cli_store *st, spio_blob_id id);
int cli_xattr(struct cli_store *st, const struct cli_cmd *cmd);
int cli_show_blob(struct cli_store *st, spio_blob_id id);
int cli_list_blobs(struct cli_store *st);

/* Open blob `id`, saying why not on stderr. 0 or CLI_EXIT_FAIL. */
int cli_open_blob(struct cli_store *st, spio_blob_id id, struct spio_blob **blob);

/* Close `blob` (which syncs it if changed). 0 or CLI_EXIT_FAIL. */
int cli_close_blob(struct spio_blob *blob);

/*
 * data.c
 */

int cli_fill(struct cli_store *st, const struct cli_cmd *cmd);
int cli_import(struct cli_store *st, const struct cli_cmd *cmd);
int cli_dump_blob(struct cli_store *st, const struct cli_cmd *cmd);

/*
 * print.c
 */

/* `label` on its own line, then `buf` in hex and ASCII, 16 bytes a line (SPDK's spdk_log_dump). */
void cli_hexdump(FILE *fp, const char *label, const void *buf, size_t len);

#endif /* SPIO_BLOBCLI_H */
