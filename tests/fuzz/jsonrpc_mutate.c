/*
 * Changes to a JSON tree that keep it valid (jsonrpc_mutate.h), for the
 * custom mutators of the jsonrpc and json_config fuzzers.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spio/util.h"

#include "jsonrpc_mutate.h"

static const char *const g_strings[] = {"bdev",
					"nvmf",
					"accel",
					"sock",
					"bdev_malloc_create",
					"bdev_malloc_delete",
					"bdev_null_create",
					"bdev_split_create",
					"bdev_passthru_create",
					"bdev_error_create",
					"bdev_delay_create",
					"bdev_lvol_create_lvstore",
					"bdev_lvol_create",
					"bdev_lvol_snapshot",
					"bdev_lvol_clone",
					"bdev_lvol_delete_lvstore",
					"bdev_set_options",
					"bdev_wait_for_examine",
					"nvmf_create_transport",
					"nvmf_create_subsystem",
					"nvmf_subsystem_add_ns",
					"nvmf_delete_subsystem",
					"framework_get_config",
					"save_config",
					"Malloc0",
					"Malloc1",
					"Null0",
					"PT0",
					"EE_Malloc0",
					"Malloc0p0",
					"lvs0",
					"lvs0/lv0",
					"lvs0/snap0",
					"TCP",
					"",
					"method",
					"params",
					"config",
					"subsystems",
					"name",
					"nqn.2016-06.io.spdk:cnode1"};

static const int64_t g_numbers[] = {
    0,	  1,	-1,   2,    3,	   4,	  7,	   8,	      16,	 511,	    512,      513,
    4095, 4096, 4097, 8192, 65535, 65536, 1 << 20, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN};

uint64_t jf_rnd(uint64_t *r)
{
	*r ^= *r << 13;
	*r ^= *r >> 7;
	*r ^= *r << 17;
	return *r;
}

/* Count the values of the tree (containers and scalars). */
static size_t count(json_t *v)
{
	size_t n = 1, i;
	const char *k;
	json_t *e;

	if (json_is_object(v)) {
		json_object_foreach(v, k, e)
		{
			n += count(e);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, e)
		{
			n += count(e);
		}
	}
	return n;
}

/* The value number `*idx` in pre-order, with its parent; NULL parent for the root. */
static json_t *pick(json_t *v, json_t *parent, size_t *idx, json_t **out_parent)
{
	size_t i;
	const char *k;
	json_t *e, *found;

	if ((*idx)-- == 0) {
		*out_parent = parent;
		return v;
	}
	if (json_is_object(v)) {
		json_object_foreach(v, k, e)
		{
			if ((found = pick(e, v, idx, out_parent)) != NULL) {
				return found;
			}
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, e)
		{
			if ((found = pick(e, v, idx, out_parent)) != NULL) {
				return found;
			}
		}
	}
	return NULL;
}

/* Replace `old` (a member or element of `parent`) by `nv` (a new reference, stolen). */
static void replace(json_t *parent, json_t *old, json_t *nv)
{
	size_t i;
	const char *k;
	json_t *e;

	if (json_is_object(parent)) {
		json_object_foreach(parent, k, e)
		{
			if (e == old) {
				json_object_set_new(parent, k, nv);
				return;
			}
		}
	} else if (json_is_array(parent)) {
		json_array_foreach(parent, i, e)
		{
			if (e == old) {
				json_array_set_new(parent, i, nv);
				return;
			}
		}
	}
	json_decref(nv);
}

static void remove_child(json_t *parent, json_t *child)
{
	size_t i;
	const char *k;
	json_t *e;

	if (json_is_object(parent)) {
		json_object_foreach(parent, k, e)
		{
			if (e == child) {
				json_object_del(parent, k);
				return;
			}
		}
	} else if (json_is_array(parent)) {
		json_array_foreach(parent, i, e)
		{
			if (e == child) {
				json_array_remove(parent, i);
				return;
			}
		}
	}
}

void jf_json_mutate(json_t *root, uint64_t *r)
{
	size_t idx = jf_rnd(r) % count(root);
	json_t *parent = NULL, *v = pick(root, NULL, &idx, &parent);

	if (v == NULL) {
		return;
	}
	switch (jf_rnd(r) % 6) {
	case 0: /* a number */
		if (json_is_integer(v) && jf_rnd(r) & 1) {
			/* wraps around at the ends of the range */
			int64_t n = (int64_t)((uint64_t)json_integer_value(v) + jf_rnd(r) % 9 - 4);

			replace(parent, v, json_integer(n));
		} else if (parent != NULL) {
			replace(parent, v,
				json_integer(g_numbers[jf_rnd(r) % SPIO_COUNTOF(g_numbers)]));
		}
		break;
	case 1: /* a string */
		if (parent != NULL) {
			if (json_is_string(v) && json_string_length(v) > 0 && jf_rnd(r) & 1) {
				char buf[256];
				size_t len = SPIO_MIN(json_string_length(v), sizeof(buf) - 2);

				memcpy(buf, json_string_value(v), len);
				buf[jf_rnd(r) % len] = "x0/_p "[jf_rnd(r) % 6];
				if (jf_rnd(r) & 1) {
					buf[len++] = '1';
				}
				replace(parent, v, json_stringn(buf, len));
			} else {
				replace(
				    parent, v,
				    json_string(g_strings[jf_rnd(r) % SPIO_COUNTOF(g_strings)]));
			}
		}
		break;
	case 2: /* remove */
		if (parent != NULL) {
			remove_child(parent, v);
		}
		break;
	case 3: /* duplicate an element (an entry, a subsystem) */
		if (json_is_array(parent)) {
			json_array_append_new(parent, json_deep_copy(v));
		} else if (json_is_array(v) && json_array_size(v) > 0) {
			json_array_append_new(v, json_deep_copy(json_array_get(v, 0)));
		}
		break;
	case 4: /* swap two elements */
		if (json_is_array(v) && json_array_size(v) > 1) {
			size_t a = jf_rnd(r) % json_array_size(v),
			       b = jf_rnd(r) % json_array_size(v);
			json_t *x = json_incref(json_array_get(v, a));

			json_array_set(v, a, json_array_get(v, b));
			json_array_set_new(v, b, x);
		}
		break;
	default: /* another type */
		if (parent != NULL) {
			static const int kinds = 5;
			json_t *nv;

			switch (jf_rnd(r) % kinds) {
			case 0:
				nv = json_null();
				break;
			case 1:
				nv = json_true();
				break;
			case 2:
				nv = json_object();
				break;
			case 3:
				nv = json_array();
				break;
			default:
				nv = json_real(0.5);
				break;
			}
			replace(parent, v, nv);
		}
		break;
	}
}
