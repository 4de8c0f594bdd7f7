/*
 * The JSON configuration (SPDK's format):
 *
 *     {"subsystems": [{"subsystem": "bdev",
 *                      "config": [{"method": "bdev_malloc_create", "params": {...}}]}]}
 *
 * The whole document is checked first (shape, known subsystems, known
 * methods). Entries for what spio does not have (SPDK's vmd, sock, iobuf,
 * ... subsystems, bdev_nvme_set_options, ...) are skipped with one warning
 * each when they hold SPDK's defaults, and refused by name otherwise
 * (spdk_foreign.c). Then, as SPDK does, the entries run in two passes: before
 * the subsystems start (RPC state STARTUP) those whose method may run at
 * startup (bdev_set_options, ...), after (RUNTIME) the runtime-only ones
 * (bdev_malloc_create, ...), each pass in file order, one call at a time:
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
#include "spdk_foreign.h"
#include "spio/log.h"
#include "spio/rpc.h"

struct json_config {
	json_t *root;
	json_t *subsystems; /* borrowed from root */
	char *source;	    /* "config file <path>" or "config text" */
	size_t sub_idx;	    /* current subsystem */
	size_t entry_idx;   /* next entry of it */
	uint32_t state;	    /* the pass: SPIO_RPC_STARTUP or SPIO_RPC_RUNTIME */
	struct spio_thread *thread;
	void (*done)(int rc);
	struct spio_msg step_msg; /* the next step; one in flight at a time */
};

void json_config_free(struct json_config *run)
{
	if (run == NULL) {
		return;
	}
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
static int config_check(struct json_config *run)
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
		if (spio_subsystem_find(json_string_value(name)) == NULL &&
		    spdk_foreign_subsystem_why(json_string_value(name)) == NULL) {
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
			/* It would wait for the start-up that waits for it: a deadlock. */
			if (strcmp(json_string_value(method), "framework_wait_init") == 0) {
				SPIO_ERRLOG(
				    "%s: subsystem '%s' entry %zu: framework_wait_init cannot "
				    "run from a configuration (it waits for the start-up that "
				    "runs the configuration)\n",
				    run->source, json_string_value(name), j);
				return -EINVAL;
			}
			if (!spio_rpc_method_exists(json_string_value(method))) {
				char why[512];

				if (spdk_foreign_entry_check(json_string_value(name),
							     json_string_value(method), params, why,
							     sizeof(why)) != 0) {
					SPIO_ERRLOG("%s: subsystem '%s' entry %zu: %s\n",
						    run->source, json_string_value(name), j, why);
					return -EINVAL;
				}
				SPIO_WARNLOG("%s: subsystem '%s': skipping %s, which holds SPDK's "
					     "defaults (%s)\n",
					     run->source, json_string_value(name),
					     json_string_value(method),
					     spdk_foreign_subsystem_why(json_string_value(name)));
			}
		}
	}
	return 0;
}

static void run_finish(struct json_config *run, int rc)
{
	run->done(rc);
}

static void run_step(void *arg);

static void run_next_msg(struct json_config *run)
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
	struct json_config *run = ctx;

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

/*
 * SPDK's passes: at startup the methods allowed then (startup-only or
 * either), at runtime the runtime-only ones; never one entry twice. Skipped
 * foreign entries (checked at load) are in neither.
 */
static bool entry_in_pass(const struct json_config *run, json_t *entry)
{
	uint32_t mask;

	if (spio_rpc_get_method_state_mask(json_string_value(json_object_get(entry, "method")),
					   &mask) != 0) {
		return false;
	}
	if (run->state == SPIO_RPC_STARTUP) {
		return (mask & SPIO_RPC_STARTUP) != 0;
	}
	return mask == SPIO_RPC_RUNTIME;
}

static void run_step(void *arg)
{
	struct json_config *run = arg;
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
		if (entry == NULL) {
			run->sub_idx++;
			run->entry_idx = 0;
			continue;
		}
		if (entry_in_pass(run, entry)) {
			break;
		}
		run->entry_idx++;
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

int json_config_load(const char *file, const char *text, struct json_config **out)
{
	struct json_config *run;
	json_error_t err;
	int rc;

	run = calloc(1, sizeof(*run));
	if (run == NULL) {
		return -ENOMEM;
	}
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
		json_config_free(run);
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
		json_config_free(run);
		return -EINVAL;
	}
	rc = config_check(run);
	if (rc != 0) {
		json_config_free(run);
		return rc;
	}
	*out = run;
	return 0;
}

int json_config_run(struct json_config *run, void (*done)(int rc))
{
	run->done = done;
	run->thread = spio_get_thread();
	run->state = spio_rpc_get_state();
	run->sub_idx = 0;
	run->entry_idx = 0;
	run_next_msg(run);
	return 0;
}
