/*
 * The JSON configuration (SPDK's format):
 *
 *     {"subsystems": [{"subsystem": "bdev",
 *                      "config": [{"method": "bdev_malloc_create", "params": {...}}]}]}
 *
 * The whole document is checked first (shape, known subsystems, known
 * methods), then each entry runs as an RPC call, in file order, one at a time:
 * the next starts when the previous one answered. Each step continues from a
 * message, so synchronous answers do not recurse.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json_val_internal.h"

#include "event_internal.h"
#include "spio/log.h"
#include "spio/rpc.h"

struct config_run {
	json_t *root;
	json_t *subsystems; /* borrowed from root */
	char *source;	    /* "config file <path>" or "config text" */
	size_t sub_idx;	    /* current subsystem */
	size_t entry_idx;   /* next entry of it */
	struct spio_thread *thread;
	void (*done)(int rc);
	struct spio_msg step_msg; /* the next step; one in flight at a time */
};

static void run_free(struct config_run *run)
{
	json_decref(run->root);
	free(run->source);
	free(run);
}

static json_t *sub_config(json_t *sub)
{
	json_t *cfg = json_object_get(sub, "config");

	return json_is_array(cfg) ? cfg : NULL;
}

/* Check the whole document before anything runs. */
static int config_check(struct config_run *run)
{
	json_t *sub, *subs;
	size_t i;

	if (!json_is_object(run->root)) {
		SPIO_ERRLOG("%s: the top level must be an object {\"subsystems\": [...]}\n",
			    run->source);
		return -EINVAL;
	}
	subs = json_object_get(run->root, "subsystems");
	if (!json_is_array(subs)) {
		SPIO_ERRLOG("%s: \"subsystems\" must be an array\n", run->source);
		return -EINVAL;
	}
	run->subsystems = subs;
	json_array_foreach(subs, i, sub)
	{
		json_t *name = json_object_get(sub, "subsystem");
		json_t *cfg = json_object_get(sub, "config");
		json_t *entry;
		size_t j;

		if (!json_is_object(sub) || !json_is_string(name)) {
			SPIO_ERRLOG("%s: subsystems[%zu] must be an object with a \"subsystem\" "
				    "name\n",
				    run->source, i);
			return -EINVAL;
		}
		if (spio_subsystem_find(json_string_value(name)) == NULL) {
			SPIO_ERRLOG("%s: subsystems[%zu]: unknown subsystem '%s'\n", run->source, i,
				    json_string_value(name));
			return -EINVAL;
		}
		if (cfg != NULL && !json_is_null(cfg) && !json_is_array(cfg)) {
			SPIO_ERRLOG("%s: subsystem '%s': \"config\" must be an array or null\n",
				    run->source, json_string_value(name));
			return -EINVAL;
		}
		json_array_foreach(sub_config(sub), j, entry)
		{
			json_t *method = json_object_get(entry, "method");
			json_t *params = json_object_get(entry, "params");

			if (!json_is_object(entry) || !json_is_string(method)) {
				SPIO_ERRLOG(
				    "%s: subsystem '%s' entry %zu: must be an object with a "
				    "\"method\" string\n",
				    run->source, json_string_value(name), j);
				return -EINVAL;
			}
			if (params != NULL && !json_is_object(params) && !json_is_array(params)) {
				SPIO_ERRLOG(
				    "%s: subsystem '%s' entry %zu (method '%s'): \"params\" "
				    "must be an object or an array\n",
				    run->source, json_string_value(name), j,
				    json_string_value(method));
				return -EINVAL;
			}
			if (!spio_rpc_method_exists(json_string_value(method))) {
				SPIO_ERRLOG("%s: subsystem '%s' entry %zu: unknown method '%s'\n",
					    run->source, json_string_value(name), j,
					    json_string_value(method));
				return -EINVAL;
			}
		}
	}
	return 0;
}

static void run_finish(struct config_run *run, int rc)
{
	void (*done)(int rc) = run->done;

	run_free(run);
	done(rc);
}

static void run_step(void *arg);

static void run_next_msg(struct config_run *run)
{
	int rc = spio_thread_send_msg_embedded(run->thread, &run->step_msg, run_step, run);

	if (rc != 0) {
		SPIO_ERRLOG("%s: cannot continue: %d\n", run->source, rc);
		run_finish(run, rc);
	}
}

static void entry_done(void *ctx, int error_code, const char *error_msg,
		       const struct spio_json_val *result)
{
	struct config_run *run = ctx;

	if (error_code != 0) {
		json_t *sub = json_array_get(run->subsystems, run->sub_idx);
		json_t *entry = json_array_get(sub_config(sub), run->entry_idx - 1);

		SPIO_ERRLOG("%s: subsystem '%s' entry %zu (method '%s') failed: %s (code %d)\n",
			    run->source, json_string_value(json_object_get(sub, "subsystem")),
			    run->entry_idx - 1, json_string_value(json_object_get(entry, "method")),
			    error_msg ? error_msg : "", error_code);
		run_finish(run, -EINVAL);
		return;
	}
	run_next_msg(run);
}

static void run_step(void *arg)
{
	struct config_run *run = arg;
	json_t *sub, *entry;
	int rc;

	if (app_stop_requested()) {
		run_finish(run, -ECANCELED);
		return;
	}
	for (;;) {
		sub = json_array_get(run->subsystems, run->sub_idx);
		if (sub == NULL) {
			run_finish(run, 0);
			return;
		}
		entry = json_array_get(sub_config(sub), run->entry_idx);
		if (entry != NULL) {
			break;
		}
		run->sub_idx++;
		run->entry_idx = 0;
	}
	run->entry_idx++;
	SPIO_DEBUGLOG(app, "%s: %s\n", run->source,
		      json_string_value(json_object_get(entry, "method")));
	rc =
	    spio_rpc_call(json_string_value(json_object_get(entry, "method")),
			  json_val_from_jansson(json_object_get(entry, "params")), entry_done, run);
	if (rc != 0) {
		SPIO_ERRLOG("%s: subsystem '%s' entry %zu (method '%s'): cannot call: %s\n",
			    run->source, json_string_value(json_object_get(sub, "subsystem")),
			    run->entry_idx - 1, json_string_value(json_object_get(entry, "method")),
			    strerror(-rc));
		run_finish(run, rc);
	}
}

int json_config_run(const char *file, const char *text, void (*done)(int rc))
{
	struct config_run *run;
	json_error_t err;
	int rc;

	run = calloc(1, sizeof(*run));
	if (run == NULL) {
		return -ENOMEM;
	}
	run->done = done;
	run->thread = spio_get_thread();
	if (file != NULL) {
		if (asprintf(&run->source, "config file %s", file) < 0) {
			run->source = NULL;
		}
		run->root = json_load_file(file, JSON_REJECT_DUPLICATES, &err);
	} else {
		run->source = strdup("config text");
		run->root = json_loads(text, JSON_REJECT_DUPLICATES, &err);
	}
	if (run->source == NULL) {
		run_free(run);
		return -ENOMEM;
	}
	if (run->root == NULL) {
		if (err.line < 0) {
			/* Not a syntax error: the file could not be read. */
			SPIO_ERRLOG("%s: %s\n", run->source, err.text);
		} else {
			SPIO_ERRLOG("%s: line %d, column %d: %s\n", run->source, err.line,
				    err.column, err.text);
		}
		run_free(run);
		return -EINVAL;
	}
	rc = config_check(run);
	if (rc != 0) {
		run_free(run);
		return rc;
	}
	run_next_msg(run);
	return 0;
}
