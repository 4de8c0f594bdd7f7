/*
 * The shell (-S: commands from stdin after a "blob> " prompt) and script
 * mode (-T FILE [ignore]: one command a line, '#' comments, $B<n> for the
 * n-th blob the script created). Each line goes through the command line's
 * parser and runs as a command would, the store loaded and unloaded around
 * it, as in SPDK's blobcli.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/util.h"

#include "blobcli.h"

/* A line split into words; argv[0] is the program name, as getopt wants it. */
struct words {
	int argc;
	char **argv; /* every entry is owned */
	int cap;
};

static void words_free(struct words *w)
{
	int i;

	for (i = 0; i < w->argc; i++) {
		free(w->argv[i]);
	}
	free(w->argv);
	memset(w, 0, sizeof(*w));
}

static int words_add(struct words *w, const char *s, size_t len)
{
	char **argv;

	if (w->argc + 2 > w->cap) {
		int cap = w->cap == 0 ? 16 : w->cap * 2;

		argv = realloc(w->argv, (size_t)cap * sizeof(*argv));
		if (argv == NULL) {
			return -ENOMEM;
		}
		w->argv = argv;
		w->cap = cap;
	}
	w->argv[w->argc] = strndup(s, len);
	if (w->argv[w->argc] == NULL) {
		return -ENOMEM;
	}
	w->argc++;
	w->argv[w->argc] = NULL;
	return 0;
}

/* Split on blanks; no quoting, as in blobcli. */
static int words_split(struct words *w, const char *line)
{
	const char *p = line;

	memset(w, 0, sizeof(*w));
	if (words_add(w, CLI_NAME, strlen(CLI_NAME)) != 0) {
		goto nomem;
	}
	for (;;) {
		size_t len;

		while (isspace((unsigned char)*p)) {
			p++;
		}
		if (*p == '\0') {
			return 0;
		}
		for (len = 0; p[len] != '\0' && !isspace((unsigned char)p[len]); len++) {
		}
		if (words_add(w, p, len) != 0) {
			goto nomem;
		}
		p += len;
	}
nomem:
	words_free(w);
	cli_err("out of memory");
	return -ENOMEM;
}

int cli_shell(void)
{
	bool failed = false;
	char *line = NULL;
	size_t cap = 0;

	for (;;) {
		struct cli_cmd cmd;
		struct words w;

		if (g_cli.interrupted) {
			failed = true;
			break;
		}
		printf("blob> ");
		fflush(stdout);
		if (getline(&line, &cap, stdin) < 0) {
			printf("\n");
			break;
		}
		if (words_split(&w, line) != 0) {
			failed = true;
			break;
		}
		if (cli_parse(w.argc, w.argv, CLI_MODE_SHELL, &cmd) != 0) {
			failed = true;
		} else if (cmd.action == CLI_EXIT) {
			words_free(&w);
			break;
		} else if (cli_run(&cmd) != 0) {
			failed = true;
		}
		words_free(&w);
	}
	free(line);
	return failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

/* Replace $B<n> words with the n-th blob id the script created. */
static int substitute_blobs(struct words *w)
{
	int i;

	for (i = 1; i < w->argc; i++) {
		char *s = w->argv[i];
		uint64_t n;
		char id[24];

		if (s[0] != '$' || s[1] != 'B') {
			continue;
		}
		if (spio_parse_u64(s + 2, 10, &n) != 0) {
			cli_err("%s: expected $B<n>, the n-th blob this script created (from 0)",
				s);
			return -EINVAL;
		}
		if (n >= g_cli.num_script_blobs) {
			cli_err("%s: the script has created %" PRIu32 " blob(s) so far", s,
				g_cli.num_script_blobs);
			return -EINVAL;
		}
		snprintf(id, sizeof(id), "%" PRIu64, g_cli.script_blobs[n]);
		free(s);
		w->argv[i] = strdup(id);
		if (w->argv[i] == NULL) {
			cli_err("out of memory");
			return -ENOMEM;
		}
	}
	return 0;
}

/* Parse and run one script line. 0, CLI_EXIT_FAIL, or 1 + CLI_EXIT_FAIL for -X. */
#define SCRIPT_EXIT (CLI_EXIT_FAIL + 1)

static int script_line(const char *line)
{
	struct cli_cmd cmd;
	struct words w;
	int rc;

	if (words_split(&w, line) != 0) {
		return CLI_EXIT_FAIL;
	}
	if (substitute_blobs(&w) != 0 || cli_parse(w.argc, w.argv, CLI_MODE_SCRIPT, &cmd) != 0) {
		rc = CLI_EXIT_FAIL;
	} else if (cmd.action == CLI_EXIT) {
		rc = SCRIPT_EXIT;
	} else if (cmd.action == CLI_NONE) {
		cli_err("no command on the line");
		rc = CLI_EXIT_FAIL;
	} else {
		rc = cli_run(&cmd);
	}
	words_free(&w);
	return rc;
}

static bool blank_or_comment(const char *line)
{
	while (isspace((unsigned char)*line)) {
		line++;
	}
	return *line == '\0' || *line == '#';
}

int cli_script(void)
{
	FILE *fp = fopen(g_cli.script_file, "r");
	bool failed = false;
	char *line = NULL;
	size_t cap = 0;
	uint32_t lineno = 0;
	ssize_t n;
	int rc;

	if (fp == NULL) {
		cli_err("script %s: cannot open: %s", g_cli.script_file, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	while ((n = getline(&line, &cap, fp)) >= 0) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
			line[--n] = '\0';
		}
		if (blank_or_comment(line)) {
			continue;
		}
		printf("\nSCRIPT NOW PROCESSING: %s\n", line);
		rc = script_line(line);
		if (rc == SCRIPT_EXIT || g_cli.interrupted) {
			failed = failed || g_cli.interrupted;
			break;
		}
		if (rc != 0) {
			failed = true;
			cli_err("script %s line %" PRIu32 " failed: %s", g_cli.script_file, lineno,
				g_cli.ignore_errors ? "skipping it (ignore)" : "aborting");
			if (!g_cli.ignore_errors) {
				break;
			}
		}
	}
	free(line);
	fclose(fp);
	return failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
