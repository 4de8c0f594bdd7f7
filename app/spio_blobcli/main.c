/*
 * spio_blobcli: SPDK's blobcli over spdk-io. The app framework runs the JSON
 * configuration that creates the bdevs; once they are examined, one task on
 * the app thread runs the command (or the shell, or the script) and stops
 * the app with its exit status. docs/spio_blobcli.md is the guide.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spio/app.h"
#include "spio/bdev.h"
#include "spio/task.h"

#include "blobcli.h"

/* printf and the blobstore's callbacks under ASan need more than the default 64 KiB. */
#define CLI_TASK_STACK (256u * 1024)

struct cli_state g_cli;

static bool g_task_running;

/* The commands that work on a loaded store: load, do, unload. */
static int run_on_store(const struct cli_cmd *cmd)
{
	struct cli_store st = {0};
	int rc, urc;

	rc = cli_store_load(&st, cmd->action == CLI_RECOVER);
	if (rc != 0) {
		return rc;
	}
	switch (cmd->action) {
	case CLI_SHOW_BS:
		rc = cli_show_bs(&st);
		break;
	case CLI_SET_SUPER:
		rc = cli_set_super(&st, cmd->blobid);
		break;
	case CLI_CREATE_BLOB:
		rc = cli_create_blob(&st, cmd);
		break;
	case CLI_DELETE_BLOB:
		rc = cli_delete_blob(&st, cmd->blobid);
		break;
	case CLI_SET_XATTR:
	case CLI_REM_XATTR:
		rc = cli_xattr(&st, cmd);
		break;
	case CLI_SHOW_BLOB:
		rc = cli_show_blob(&st, cmd->blobid);
		break;
	case CLI_LIST_BLOBS:
		rc = cli_list_blobs(&st);
		break;
	case CLI_FILL:
		rc = cli_fill(&st, cmd);
		break;
	case CLI_IMPORT_BLOB:
		rc = cli_import(&st, cmd);
		break;
	case CLI_DUMP_BLOB:
		rc = cli_dump_blob(&st, cmd);
		break;
	case CLI_RECOVER:
		printf("Blobstore recovered: its masks were rebuilt from the metadata.\n");
		rc = CLI_EXIT_OK;
		break;
	default:
		cli_err("internal error: command %d has no handler", (int)cmd->action);
		rc = CLI_EXIT_FAIL;
		break;
	}
	urc = cli_store_unload(&st);
	return rc != 0 ? rc : urc;
}

int cli_run(const struct cli_cmd *cmd)
{
	int rc;

	if (g_cli.interrupted) {
		cli_err("interrupted");
		return CLI_EXIT_FAIL;
	}
	switch (cmd->action) {
	case CLI_NONE:
	case CLI_EXIT:
		rc = CLI_EXIT_OK;
		break;
	case CLI_HELP:
		cli_usage(g_cli.mode != CLI_MODE_CMD);
		rc = CLI_EXIT_OK;
		break;
	case CLI_INIT_BS:
		rc = cli_init_bs();
		break;
	case CLI_DUMP_BS:
		rc = cli_dump_bs();
		break;
	case CLI_LIST_BDEVS:
		rc = cli_list_bdevs();
		break;
	case CLI_SHELL:
	case CLI_SCRIPT:
		cli_err("-S and -T cannot be nested");
		rc = CLI_EXIT_FAIL;
		break;
	default:
		rc = run_on_store(cmd);
		break;
	}
	fflush(stdout);
	return rc;
}

static int cli_task(void *arg)
{
	int rc;

	(void)arg;
	switch (g_cli.first.action) {
	case CLI_SHELL:
		g_cli.mode = CLI_MODE_SHELL;
		rc = cli_shell();
		break;
	case CLI_SCRIPT:
		g_cli.mode = CLI_MODE_SCRIPT;
		rc = cli_script();
		break;
	default:
		rc = cli_run(&g_cli.first);
		break;
	}
	fflush(stdout);
	g_task_running = false;
	spio_app_stop(rc);
	return 0;
}

/* After the configuration's bdevs were examined (lvols appear there). */
static void cli_examined(void *arg)
{
	struct spio_task_opts topts;
	int rc;

	(void)arg;
	if (g_cli.interrupted) {
		spio_app_stop(CLI_EXIT_FAIL);
		return;
	}
	spio_task_opts_init(&topts, sizeof(topts));
	topts.stack_size = CLI_TASK_STACK;
	topts.name = "blobcli";
	g_task_running = true;
	rc = spio_task_spawn(cli_task, NULL, &topts, NULL);
	if (rc != 0) {
		g_task_running = false;
		cli_err("cannot start the command's task: %s", strerror(-rc));
		spio_app_stop(CLI_EXIT_FAIL);
	}
}

static void cli_start(void *arg)
{
	int rc = spio_bdev_wait_for_examine(cli_examined, arg);

	if (rc != 0) {
		cli_err("cannot wait for the bdevs' examine: %s", strerror(-rc));
		spio_app_stop(CLI_EXIT_FAIL);
	}
}

/* SIGINT / SIGTERM: the task stops at its next step and unloads the store. */
static void cli_shutdown(void)
{
	g_cli.interrupted = true;
	if (!g_task_running) {
		spio_app_stop(CLI_EXIT_FAIL);
	}
}

static void cli_free(void)
{
	free(g_cli.bdev_name);
	free(g_cli.script_blobs);
}

int main(int argc, char **argv)
{
	struct spio_app_opts opts;
	int rc;

	g_cli.mode = CLI_MODE_CMD;
	g_cli.config_file = CLI_DEFAULT_CONFIG;
	if (argc < 2) {
		cli_usage(false);
		cli_err("no command given");
		return CLI_EXIT_FAIL;
	}
	if (cli_parse(argc, argv, CLI_MODE_CMD, &g_cli.first) != 0) {
		cli_free();
		return CLI_EXIT_FAIL;
	}
	if (g_cli.first.action == CLI_HELP) {
		cli_usage(false);
		cli_free();
		return CLI_EXIT_OK;
	}
	if (access(g_cli.config_file, R_OK) != 0) {
		cli_err("config file %s: %s. Give one with -j FILE, for example\n"
			"  {\"subsystems\": [{\"subsystem\": \"bdev\", \"config\": [{\"method\": "
			"\"bdev_aio_create\",\n"
			"    \"params\": {\"name\": \"aio0\", \"filename\": \"/path/disk.img\", "
			"\"block_size\": 4096}}]}]}",
			g_cli.config_file, strerror(errno));
		cli_free();
		return CLI_EXIT_FAIL;
	}

	spio_app_opts_init(&opts, sizeof(opts));
	opts.name = CLI_NAME;
	opts.reactor_mask = "0x1";
	opts.rpc_addr = NULL;
	opts.json_config_file = g_cli.config_file;
	opts.no_huge = g_cli.no_huge;
	opts.idle_mode = SPIO_APP_IDLE_POLL;
	opts.shutdown_cb = cli_shutdown;
	rc = spio_app_start(&opts, cli_start, NULL);
	cli_free();
	if (rc < 0) {
		cli_err("start-up failed (JSON configuration %s): %s", g_cli.config_file,
			strerror(-rc));
		return CLI_EXIT_FAIL;
	}
	return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
