/*
 * The nvme bdev module's options (SPDK's bdev_nvme_set_options): their
 * defaults, the checks (SPDK's rules, then what spio cannot honour), the
 * save_config entry, and SPDK's generated namespace UUID. They change only
 * while no controller is attached, so a controller takes what it needs at
 * attach and the I/O path never reads them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <uuid/uuid.h>

#include "bdev/bdev_error.h"
#include "spio/json.h"
#include "spio/log.h"
#include "spio/util.h"

#include "bdev_nvme_internal.h"

/*
 * SPDK's defaults, field for field: a macro, because C (and clang) does not
 * accept one static object as the initializer of another.
 */
#define BDEV_NVME_OPTS_DEFAULTS                                                              \
	{                                                                                    \
		.opts_size = sizeof(struct spio_bdev_nvme_module_opts),                      \
		.action_on_timeout = SPIO_BDEV_NVME_TIMEOUT_ACTION_NONE,                     \
		.keep_alive_timeout_ms = 10000, .nvme_adminq_poll_period_us = 10000,         \
		.delay_cmd_submit = true, .transport_retry_count = 4, .bdev_retry_count = 3, \
		.dhchap_digests = SPIO_BDEV_NVME_DHCHAP_DIGESTS_DEFAULT,                     \
		.dhchap_dhgroups = SPIO_BDEV_NVME_DHCHAP_DHGROUPS_DEFAULT,                   \
	}

static const struct spio_bdev_nvme_module_opts g_defaults = BDEV_NVME_OPTS_DEFAULTS;

struct spio_bdev_nvme_module_opts g_bdev_nvme_opts = BDEV_NVME_OPTS_DEFAULTS;

/* SPDK's names of the DH-HMAC-CHAP digests and groups, by bit. */
static const char *const g_digest_names[] = {NULL, "sha256", "sha384", "sha512"};
static const char *const g_dhgroup_names[] = {"null",	   "ffdhe2048", "ffdhe3072",
					      "ffdhe4096", "ffdhe6144", "ffdhe8192"};

/* The namespace SPDK derives generated namespace UUIDs in (its nvme_generate_uuid). */
static const uuid_t g_uuid_namespace = {0xed, 0xae, 0xd2, 0xde, 0x24, 0xbc, 0x4b, 0x07,
					0xb5, 0x59, 0xf4, 0x7e, 0xcb, 0xe7, 0x30, 0xfd};

int bdev_nvme_dhchap_bit(bool digests, const char *name)
{
	const char *const *names = digests ? g_digest_names : g_dhgroup_names;
	size_t n = digests ? SPIO_COUNTOF(g_digest_names) : SPIO_COUNTOF(g_dhgroup_names);

	for (size_t i = 0; i < n; i++) {
		if (names[i] != NULL && strcmp(names[i], name) == 0) {
			return (int)i;
		}
	}
	return -1;
}

int bdev_nvme_check_resiliency(int32_t loss, uint32_t delay, uint32_t fast, char *err,
			       size_t err_len)
{
	if (loss < -1) {
		return bdev_create_error(err, err_len, -EINVAL,
					 "ctrlr_loss_timeout_sec %" PRId32 ": expected -1 or more",
					 loss);
	}
	if (loss == 0) {
		if (delay != 0 || fast != 0) {
			return bdev_create_error(
			    err, err_len, -EINVAL,
			    "reconnect_delay_sec %" PRIu32 " and fast_io_fail_timeout_sec %" PRIu32
			    ": both must be 0 when ctrlr_loss_timeout_sec is 0",
			    delay, fast);
		}
		return 0;
	}
	if (delay == 0) {
		return bdev_create_error(err, err_len, -EINVAL,
					 "reconnect_delay_sec 0: must be set when "
					 "ctrlr_loss_timeout_sec is %" PRId32,
					 loss);
	}
	if (loss != -1 && delay > (uint32_t)loss) {
		return bdev_create_error(err, err_len, -EINVAL,
					 "reconnect_delay_sec %" PRIu32
					 ": must not exceed ctrlr_loss_timeout_sec %" PRId32,
					 delay, loss);
	}
	if (fast != 0 && fast < delay) {
		return bdev_create_error(err, err_len, -EINVAL,
					 "fast_io_fail_timeout_sec %" PRIu32
					 ": must not be below reconnect_delay_sec %" PRIu32,
					 fast, delay);
	}
	if (fast != 0 && loss != -1 && fast > (uint32_t)loss) {
		return bdev_create_error(err, err_len, -EINVAL,
					 "fast_io_fail_timeout_sec %" PRIu32
					 ": must not exceed ctrlr_loss_timeout_sec %" PRId32,
					 fast, loss);
	}
	return 0;
}

/* SPDK's own refusals (bdev_nvme_validate_opts), with its warnings. */
static int check_spdk_rules(const struct spio_bdev_nvme_module_opts *o, char *err, size_t err_len)
{
	uint64_t kato_us = (uint64_t)o->keep_alive_timeout_ms * 1000;

	if (o->timeout_us == 0 && o->timeout_admin_us != 0) {
		return bdev_create_error(err, err_len, -EINVAL,
					 "timeout_admin_us %" PRIu64
					 ": needs timeout_us, which is 0",
					 o->timeout_admin_us);
	}
	if (o->bdev_retry_count < -1) {
		return bdev_create_error(err, err_len, -EINVAL,
					 "bdev_retry_count %" PRId32 ": expected -1 or more",
					 o->bdev_retry_count);
	}
	if ((o->timeout_us != 0 && kato_us > o->timeout_us) ||
	    (o->timeout_admin_us != 0 && kato_us > o->timeout_admin_us)) {
		SPIO_WARNLOG("nvme options: keep_alive_timeout_ms %" PRIu32
			     " should be less than the command timeouts\n",
			     o->keep_alive_timeout_ms);
	}
	return bdev_nvme_check_resiliency(o->ctrlr_loss_timeout_sec, o->reconnect_delay_sec,
					  o->fast_io_fail_timeout_sec, err, err_len);
}

/* A value spio cannot honour: -ENOTSUP naming it and why. */
#define REFUSE(cond, fmt, ...)                                                                 \
	do {                                                                                   \
		if (cond) {                                                                    \
			return bdev_create_error(err, err_len, -ENOTSUP, "nvme options: " fmt, \
						 __VA_ARGS__);                                 \
		}                                                                              \
	} while (0)

static int check_supported(const struct spio_bdev_nvme_module_opts *o, char *err, size_t err_len)
{
	REFUSE(o->action_on_timeout == SPIO_BDEV_NVME_TIMEOUT_ACTION_ABORT, "%s",
	       "action_on_timeout abort is not supported: on a timeout spio's driver drops the "
	       "queue's connection (SPDK's reset)");
	REFUSE(o->action_on_timeout > SPIO_BDEV_NVME_TIMEOUT_ACTION_ABORT,
	       "action_on_timeout %d unknown", (int)o->action_on_timeout);
	REFUSE(o->action_on_timeout == SPIO_BDEV_NVME_TIMEOUT_ACTION_NONE && o->timeout_us != 0,
	       "timeout_us %" PRIu64 " with action_on_timeout none: spio's driver always drops "
	       "the queue's connection when a command times out; use action_on_timeout reset",
	       o->timeout_us);
	REFUSE(o->arbitration_burst != 0 || o->low_priority_weight != 0 ||
		   o->medium_priority_weight != 0 || o->high_priority_weight != 0,
	       "%s",
	       "arbitration_burst and the priority weights: only 0 (spio does not set the "
	       "Arbitration feature)");
	REFUSE(o->nvme_ioq_poll_period_us != 0,
	       "nvme_ioq_poll_period_us %" PRIu64 ": only 0 (spio's poll groups poll as fast as "
	       "possible and sleep when idle)",
	       o->nvme_ioq_poll_period_us);
	REFUSE(o->transport_ack_timeout != 0,
	       "transport_ack_timeout %u: only 0 (spio's NVMe/TCP sets no TCP_USER_TIMEOUT)",
	       o->transport_ack_timeout);
	REFUSE(o->tcp_connect_timeout_ms != 0,
	       "tcp_connect_timeout_ms %" PRIu32 ": only 0 (spio has one limit for a queue's "
	       "whole connect: bdev_nvme_attach_controller's fabrics_connect_timeout_us)",
	       o->tcp_connect_timeout_ms);
	REFUSE(o->nvme_error_stat, "%s", "nvme_error_stat true: spio keeps no NVMe error counters");
	REFUSE(o->io_path_stat, "%s", "io_path_stat true: spio keeps no per-path I/O statistics");
	REFUSE(o->allow_accel_sequence, "%s",
	       "allow_accel_sequence true: spio has no accel framework");
	REFUSE(o->dhchap_digests != SPIO_BDEV_NVME_DHCHAP_DIGESTS_DEFAULT ||
		   o->dhchap_dhgroups != SPIO_BDEV_NVME_DHCHAP_DHGROUPS_DEFAULT,
	       "%s",
	       "dhchap_digests and dhchap_dhgroups: only SPDK's defaults (spio has no "
	       "DH-HMAC-CHAP)");
	return 0;
}

#undef REFUSE

void spio_bdev_nvme_get_module_opts(struct spio_bdev_nvme_module_opts *opts, size_t opts_size)
{
	if (opts == NULL || opts_size == 0) {
		return;
	}
	memcpy(opts, &g_bdev_nvme_opts, SPIO_MIN(opts_size, sizeof(*opts)));
	opts->opts_size = opts_size;
}

int spio_bdev_nvme_set_module_opts(const struct spio_bdev_nvme_module_opts *user, char *err,
				   size_t err_len)
{
	struct spio_bdev_nvme_module_opts o = g_bdev_nvme_opts;
	int rc;

	if (user == NULL || user->opts_size == 0) {
		return bdev_create_error(err, err_len, -EINVAL, "nvme options: invalid arguments");
	}
	memcpy(&o, user, SPIO_MIN(user->opts_size, sizeof(o)));
	o.opts_size = sizeof(o);
	rc = check_spdk_rules(&o, err, err_len);
	if (rc == 0) {
		rc = check_supported(&o, err, err_len);
	}
	if (rc != 0) {
		return rc;
	}
	rc = bdev_nvme_opts_may_change();
	if (rc == -EPERM) {
		/* SPDK's words. */
		return bdev_create_error(
		    err, err_len, rc, "RPC not permitted with nvme controllers already attached");
	}
	if (rc != 0) {
		return bdev_create_error(err, err_len, rc,
					 "nvme options: set them on the bdev layer's thread");
	}
	g_bdev_nvme_opts = o;
	return 0;
}

bool bdev_nvme_opts_are_default(void)
{
	const struct spio_bdev_nvme_module_opts *o = &g_bdev_nvme_opts, *d = &g_defaults;

	/* Field by field: the structs' padding is not comparable. */
	return o->action_on_timeout == d->action_on_timeout && o->timeout_us == d->timeout_us &&
	       o->timeout_admin_us == d->timeout_admin_us &&
	       o->keep_alive_timeout_ms == d->keep_alive_timeout_ms &&
	       o->arbitration_burst == d->arbitration_burst &&
	       o->low_priority_weight == d->low_priority_weight &&
	       o->medium_priority_weight == d->medium_priority_weight &&
	       o->high_priority_weight == d->high_priority_weight &&
	       o->nvme_adminq_poll_period_us == d->nvme_adminq_poll_period_us &&
	       o->nvme_ioq_poll_period_us == d->nvme_ioq_poll_period_us &&
	       o->io_queue_requests == d->io_queue_requests &&
	       o->delay_cmd_submit == d->delay_cmd_submit &&
	       o->transport_retry_count == d->transport_retry_count &&
	       o->bdev_retry_count == d->bdev_retry_count &&
	       o->transport_ack_timeout == d->transport_ack_timeout &&
	       o->ctrlr_loss_timeout_sec == d->ctrlr_loss_timeout_sec &&
	       o->reconnect_delay_sec == d->reconnect_delay_sec &&
	       o->fast_io_fail_timeout_sec == d->fast_io_fail_timeout_sec &&
	       o->disable_auto_failback == d->disable_auto_failback &&
	       o->generate_uuids == d->generate_uuids && o->transport_tos == d->transport_tos &&
	       o->nvme_error_stat == d->nvme_error_stat && o->rdma_srq_size == d->rdma_srq_size &&
	       o->io_path_stat == d->io_path_stat &&
	       o->allow_accel_sequence == d->allow_accel_sequence &&
	       o->rdma_max_cq_size == d->rdma_max_cq_size &&
	       o->rdma_cm_event_timeout_ms == d->rdma_cm_event_timeout_ms &&
	       o->dhchap_digests == d->dhchap_digests && o->dhchap_dhgroups == d->dhchap_dhgroups &&
	       o->rdma_umr_per_io == d->rdma_umr_per_io &&
	       o->tcp_connect_timeout_ms == d->tcp_connect_timeout_ms &&
	       o->enable_flush == d->enable_flush;
}

static void write_names(struct spio_json_write_ctx *w, const char *key, uint32_t mask,
			const char *const *names, size_t n)
{
	spio_json_write_named_array_begin(w, key);
	for (size_t i = 0; i < n; i++) {
		if ((mask & (1u << i)) != 0 && names[i] != NULL) {
			spio_json_write_string(w, names[i]);
		}
	}
	spio_json_write_array_end(w);
}

void bdev_nvme_opts_config_json(struct spio_json_write_ctx *w)
{
	static const char *const actions[] = {"none", "reset", "abort"};
	const struct spio_bdev_nvme_module_opts *o = &g_bdev_nvme_opts;

	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "method", "bdev_nvme_set_options");
	spio_json_write_named_object_begin(w, "params");
	spio_json_write_named_string(w, "action_on_timeout", actions[o->action_on_timeout]);
	spio_json_write_named_uint64(w, "timeout_us", o->timeout_us);
	spio_json_write_named_uint64(w, "timeout_admin_us", o->timeout_admin_us);
	spio_json_write_named_uint32(w, "keep_alive_timeout_ms", o->keep_alive_timeout_ms);
	spio_json_write_named_uint32(w, "arbitration_burst", o->arbitration_burst);
	spio_json_write_named_uint32(w, "low_priority_weight", o->low_priority_weight);
	spio_json_write_named_uint32(w, "medium_priority_weight", o->medium_priority_weight);
	spio_json_write_named_uint32(w, "high_priority_weight", o->high_priority_weight);
	spio_json_write_named_uint64(w, "nvme_adminq_poll_period_us",
				     o->nvme_adminq_poll_period_us);
	spio_json_write_named_uint64(w, "nvme_ioq_poll_period_us", o->nvme_ioq_poll_period_us);
	spio_json_write_named_uint32(w, "io_queue_requests", o->io_queue_requests);
	spio_json_write_named_bool(w, "delay_cmd_submit", o->delay_cmd_submit);
	spio_json_write_named_uint32(w, "transport_retry_count", o->transport_retry_count);
	spio_json_write_named_int32(w, "bdev_retry_count", o->bdev_retry_count);
	spio_json_write_named_uint32(w, "transport_ack_timeout", o->transport_ack_timeout);
	spio_json_write_named_int32(w, "ctrlr_loss_timeout_sec", o->ctrlr_loss_timeout_sec);
	spio_json_write_named_uint32(w, "reconnect_delay_sec", o->reconnect_delay_sec);
	spio_json_write_named_uint32(w, "fast_io_fail_timeout_sec", o->fast_io_fail_timeout_sec);
	spio_json_write_named_bool(w, "disable_auto_failback", o->disable_auto_failback);
	spio_json_write_named_bool(w, "generate_uuids", o->generate_uuids);
	spio_json_write_named_uint32(w, "transport_tos", o->transport_tos);
	spio_json_write_named_bool(w, "nvme_error_stat", o->nvme_error_stat);
	spio_json_write_named_uint32(w, "rdma_srq_size", o->rdma_srq_size);
	spio_json_write_named_bool(w, "io_path_stat", o->io_path_stat);
	spio_json_write_named_bool(w, "allow_accel_sequence", o->allow_accel_sequence);
	spio_json_write_named_uint32(w, "rdma_max_cq_size", o->rdma_max_cq_size);
	spio_json_write_named_uint32(w, "rdma_cm_event_timeout_ms", o->rdma_cm_event_timeout_ms);
	write_names(w, "dhchap_digests", o->dhchap_digests, g_digest_names,
		    SPIO_COUNTOF(g_digest_names));
	write_names(w, "dhchap_dhgroups", o->dhchap_dhgroups, g_dhgroup_names,
		    SPIO_COUNTOF(g_dhgroup_names));
	spio_json_write_named_bool(w, "rdma_umr_per_io", o->rdma_umr_per_io);
	spio_json_write_named_uint32(w, "tcp_connect_timeout_ms", o->tcp_connect_timeout_ms);
	spio_json_write_named_bool(w, "enable_flush", o->enable_flush);
	spio_json_write_named_object_begin(w, "multipath_opts");
	spio_json_write_named_string(w, "policy", "active_passive");
	spio_json_write_object_end(w);
	spio_json_write_object_end(w);
	spio_json_write_object_end(w);
}

void bdev_nvme_generate_uuid(const char *sn, size_t sn_len, uint32_t nsid, struct spio_uuid *uuid)
{
	/* The serial number as SPDK takes it: up to its first NUL, trailing spaces kept. */
	char name[sizeof(((struct spio_nvme_ctrlr_data *)0)->sn) + 11];
	size_t len = strnlen(sn, SPIO_MIN(sn_len, sizeof(name) - 11));
	int n;

	memcpy(name, sn, len);
	n = snprintf(name + len, sizeof(name) - len, "%" PRIu32, nsid);
	uuid_generate_sha1(uuid->u, g_uuid_namespace, name, len + (size_t)n);
}
