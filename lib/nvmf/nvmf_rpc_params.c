/*
 * Parameters of the nvmf_* methods: SPDK's names, types and defaults
 * (SPDK's schema). What spio does not do is accepted at SPDK's default and
 * refused, by name, otherwise; parameters that only mean something to
 * SPDK's RDMA or vfio-user transports are accepted and ignored, as SPDK's
 * TCP transport ignores them.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvmf_rpc.h"
#include "spio/json_val.h"
#include "spio/util.h"

/* Unsigned parameters whose SPDK type is narrower than 32 bits. */
static int check_max(const char *name, uint32_t value, uint32_t max, char *err, size_t errlen)
{
	if (value > max) {
		snprintf(err, errlen, "Invalid parameter '%s': %u is above %u", name, value, max);
		return -EINVAL;
	}
	return 0;
}

/* A boolean that spio only supports at SPDK's default of false. */
static int refuse_true(const char *name, bool value, const char *why, char *err, size_t errlen)
{
	if (value) {
		snprintf(err, errlen, "%s true: %s", name, why);
		return -ENOTSUP;
	}
	return 0;
}

static int refuse_u32(const char *name, uint32_t value, uint32_t def, const char *why, char *err,
		      size_t errlen)
{
	if (value != def) {
		snprintf(err, errlen, "%s %u: %s (only SPDK's default %u is accepted)", name, value,
			 why, def);
		return -ENOTSUP;
	}
	return 0;
}

int nvmf_rpc_parse_hex(const char *hex, uint8_t *out, size_t size)
{
	if (hex == NULL || out == NULL || strlen(hex) != size * 2) {
		return -EINVAL;
	}
	for (size_t i = 0; i < size * 2; i++) {
		char c = hex[i];
		uint8_t v;

		if (c >= '0' && c <= '9') {
			v = (uint8_t)(c - '0');
		} else if (c >= 'a' && c <= 'f') {
			v = (uint8_t)(c - 'a' + 10);
		} else if (c >= 'A' && c <= 'F') {
			v = (uint8_t)(c - 'A' + 10);
		} else {
			return -EINVAL;
		}
		out[i / 2] = (uint8_t)(i % 2 == 0 ? v << 4 : out[i / 2] | v);
	}
	return 0;
}

void nvmf_rpc_fmt_hex(char *buf, const uint8_t *bytes, size_t len)
{
	static const char digits[] = "0123456789ABCDEF";

	for (size_t i = 0; i < len; i++) {
		buf[2 * i] = digits[bytes[i] >> 4];
		buf[2 * i + 1] = digits[bytes[i] & 0xf];
	}
	buf[2 * len] = '\0';
}

/*
 * nvmf_create_transport
 */

struct transport_raw {
	char *trtype;
	char *tgt_name;
	uint32_t max_queue_depth;
	uint32_t max_io_qpairs_per_ctrlr;
	uint32_t in_capsule_data_size;
	uint32_t max_io_size;
	uint32_t io_unit_size;
	uint32_t max_aq_depth;
	uint32_t num_shared_buffers;
	uint32_t buf_cache_size;
	uint32_t iobuf_small_cache_size;
	uint32_t iobuf_large_cache_size;
	bool zcopy;
	int32_t num_cqe;
	uint32_t max_srq_depth;
	bool no_srq;
	bool c2h_success;
	bool dif_insert_or_strip;
	uint32_t sock_priority;
	int32_t acceptor_backlog;
	uint32_t abort_timeout_sec;
	bool no_wr_batching;
	uint32_t control_msg_num;
	bool disable_mappable_bar0;
	bool disable_adaptive_irq;
	bool disable_shadow_doorbells;
	uint32_t acceptor_poll_rate;
	uint32_t ack_timeout;
	uint32_t data_wr_pool_size;
	bool disable_command_passthru;
	uint32_t kas;
	uint32_t min_kato;
	const struct spio_json_val *masked_oncs;
	const struct spio_json_val *masked_fuses;
};

#define TR(f) offsetof(struct transport_raw, f)
/* SPDK's schema, in its order. */
static const struct spio_rpc_param g_transport_decoders[] = {
    {"trtype", SPIO_RPC_PARAM_STRING, TR(trtype), false},
    {"tgt_name", SPIO_RPC_PARAM_STRING, TR(tgt_name), true},
    {"max_queue_depth", SPIO_RPC_PARAM_UINT32, TR(max_queue_depth), true},
    {"max_io_qpairs_per_ctrlr", SPIO_RPC_PARAM_UINT32, TR(max_io_qpairs_per_ctrlr), true},
    {"in_capsule_data_size", SPIO_RPC_PARAM_UINT32, TR(in_capsule_data_size), true},
    {"max_io_size", SPIO_RPC_PARAM_UINT32, TR(max_io_size), true},
    {"io_unit_size", SPIO_RPC_PARAM_UINT32, TR(io_unit_size), true},
    {"max_aq_depth", SPIO_RPC_PARAM_UINT32, TR(max_aq_depth), true},
    {"num_shared_buffers", SPIO_RPC_PARAM_UINT32, TR(num_shared_buffers), true},
    {"buf_cache_size", SPIO_RPC_PARAM_UINT32, TR(buf_cache_size), true},
    {"iobuf_small_cache_size", SPIO_RPC_PARAM_UINT32, TR(iobuf_small_cache_size), true},
    {"iobuf_large_cache_size", SPIO_RPC_PARAM_UINT32, TR(iobuf_large_cache_size), true},
    {"zcopy", SPIO_RPC_PARAM_BOOL, TR(zcopy), true},
    {"num_cqe", SPIO_RPC_PARAM_INT32, TR(num_cqe), true},
    {"max_srq_depth", SPIO_RPC_PARAM_UINT32, TR(max_srq_depth), true},
    {"no_srq", SPIO_RPC_PARAM_BOOL, TR(no_srq), true},
    {"c2h_success", SPIO_RPC_PARAM_BOOL, TR(c2h_success), true},
    {"dif_insert_or_strip", SPIO_RPC_PARAM_BOOL, TR(dif_insert_or_strip), true},
    {"sock_priority", SPIO_RPC_PARAM_UINT32, TR(sock_priority), true},
    {"acceptor_backlog", SPIO_RPC_PARAM_INT32, TR(acceptor_backlog), true},
    {"abort_timeout_sec", SPIO_RPC_PARAM_UINT32, TR(abort_timeout_sec), true},
    {"no_wr_batching", SPIO_RPC_PARAM_BOOL, TR(no_wr_batching), true},
    {"control_msg_num", SPIO_RPC_PARAM_UINT32, TR(control_msg_num), true},
    {"disable_mappable_bar0", SPIO_RPC_PARAM_BOOL, TR(disable_mappable_bar0), true},
    {"disable_adaptive_irq", SPIO_RPC_PARAM_BOOL, TR(disable_adaptive_irq), true},
    {"disable_shadow_doorbells", SPIO_RPC_PARAM_BOOL, TR(disable_shadow_doorbells), true},
    {"acceptor_poll_rate", SPIO_RPC_PARAM_UINT32, TR(acceptor_poll_rate), true},
    {"ack_timeout", SPIO_RPC_PARAM_UINT32, TR(ack_timeout), true},
    {"data_wr_pool_size", SPIO_RPC_PARAM_UINT32, TR(data_wr_pool_size), true},
    {"disable_command_passthru", SPIO_RPC_PARAM_BOOL, TR(disable_command_passthru), true},
    {"kas", SPIO_RPC_PARAM_UINT32, TR(kas), true},
    {"min_kato", SPIO_RPC_PARAM_UINT32, TR(min_kato), true},
    {"masked_oncs", SPIO_RPC_PARAM_ARRAY, TR(masked_oncs), true},
    {"masked_fuses", SPIO_RPC_PARAM_ARRAY, TR(masked_fuses), true},
};
#undef TR

static void raw_from_opts(struct transport_raw *r, const struct spio_nvmf_transport_opts *o)
{
	r->max_queue_depth = o->max_queue_depth;
	r->max_io_qpairs_per_ctrlr = o->max_io_qpairs_per_ctrlr;
	r->in_capsule_data_size = o->in_capsule_data_size;
	r->max_io_size = o->max_io_size;
	r->io_unit_size = o->io_unit_size;
	r->max_aq_depth = o->max_aq_depth;
	r->num_shared_buffers = o->num_shared_buffers;
	r->buf_cache_size = o->buf_cache_size;
	r->c2h_success = o->c2h_success;
	r->dif_insert_or_strip = o->dif_insert_or_strip;
	r->abort_timeout_sec = o->abort_timeout_sec;
	r->sock_priority = (uint32_t)o->sock_priority;
	r->control_msg_num = o->control_msg_num;
	r->iobuf_small_cache_size = NVMF_RPC_IOBUF_CACHE_DEFAULT;
	r->iobuf_large_cache_size = NVMF_RPC_IOBUF_CACHE_DEFAULT;
	r->kas = NVMF_RPC_KAS_DEFAULT;
	r->min_kato = NVMF_RPC_MIN_KATO_DEFAULT;
}

static int transport_check(const struct transport_raw *r, char *err, size_t errlen)
{
	int rc;

	if ((rc = check_max("max_queue_depth", r->max_queue_depth, UINT16_MAX, err, errlen)) ||
	    (rc = check_max("max_io_qpairs_per_ctrlr", r->max_io_qpairs_per_ctrlr, UINT16_MAX - 1,
			    err, errlen)) ||
	    (rc = check_max("control_msg_num", r->control_msg_num, UINT16_MAX, err, errlen)) ||
	    (rc = check_max("kas", r->kas, UINT16_MAX, err, errlen)) ||
	    (rc = check_max("sock_priority", r->sock_priority, INT_MAX, err, errlen))) {
		return rc;
	}
	if ((rc = refuse_true("zcopy", r->zcopy, "spio's TCP transport has no zero-copy bdev I/O",
			      err, errlen)) ||
	    (rc = refuse_true("dif_insert_or_strip", r->dif_insert_or_strip,
			      "spio keeps no protection information", err, errlen)) ||
	    (rc = refuse_u32("iobuf_small_cache_size", r->iobuf_small_cache_size,
			     NVMF_RPC_IOBUF_CACHE_DEFAULT, "spio has no iobuf buffer pools", err,
			     errlen)) ||
	    (rc = refuse_u32("iobuf_large_cache_size", r->iobuf_large_cache_size,
			     NVMF_RPC_IOBUF_CACHE_DEFAULT, "spio has no iobuf buffer pools", err,
			     errlen)) ||
	    (rc = refuse_u32("kas", r->kas, NVMF_RPC_KAS_DEFAULT,
			     "spio's keep-alive granularity is fixed", err, errlen)) ||
	    (rc = refuse_u32("min_kato", r->min_kato, NVMF_RPC_MIN_KATO_DEFAULT,
			     "spio's minimum keep-alive timeout is fixed", err, errlen))) {
		return rc;
	}
	if (spio_json_array_size(r->masked_oncs) != 0) {
		snprintf(err, errlen,
			 "masked_oncs: spio does not mask optional commands "
			 "(only SPDK's default, none, is accepted)");
		return -ENOTSUP;
	}
	if (spio_json_array_size(r->masked_fuses) != 0) {
		snprintf(err, errlen,
			 "masked_fuses: spio supports no fused operations to mask "
			 "(only SPDK's default, none, is accepted)");
		return -ENOTSUP;
	}
	return 0;
}

int nvmf_rpc_decode_create_transport(const struct spio_json_val *params,
				     struct nvmf_rpc_transport_params *p, char *err, size_t errlen)
{
	struct transport_raw r = {0};
	enum spio_nvme_transport_type type;
	const char *name;
	int rc;

	/* Once to check the keys and find trtype, again over the transport's defaults. */
	rc = spio_rpc_decode_params(params, g_transport_decoders,
				    SPIO_COUNTOF(g_transport_decoders), &r, err, errlen);
	if (rc != 0) {
		goto out;
	}
	name = r.trtype;
	if (spio_nvme_transport_id_parse_trtype(&type, r.trtype) == 0) {
		name = spio_nvme_transport_id_trtype_str(type);
	}
	if (spio_nvmf_transport_opts_init(name, &p->opts, sizeof(p->opts)) != 0) {
		snprintf(err, errlen, "Invalid transport type '%s'", r.trtype);
		rc = -EINVAL;
		goto out;
	}
	p->trtype = strdup(name);
	if (p->trtype == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	raw_from_opts(&r, &p->opts);
	rc = spio_rpc_decode_params(params, g_transport_decoders,
				    SPIO_COUNTOF(g_transport_decoders), &r, err, errlen);
	if (rc == 0) {
		rc = transport_check(&r, err, errlen);
	}
	if (rc != 0) {
		goto out;
	}
	p->opts.max_queue_depth = (uint16_t)r.max_queue_depth;
	p->opts.max_io_qpairs_per_ctrlr = (uint16_t)r.max_io_qpairs_per_ctrlr;
	p->opts.in_capsule_data_size = r.in_capsule_data_size;
	p->opts.max_io_size = r.max_io_size;
	p->opts.io_unit_size = r.io_unit_size;
	p->opts.max_aq_depth = r.max_aq_depth;
	p->opts.num_shared_buffers = r.num_shared_buffers;
	p->opts.buf_cache_size = r.buf_cache_size;
	p->opts.c2h_success = r.c2h_success;
	p->opts.abort_timeout_sec = r.abort_timeout_sec;
	p->opts.sock_priority = (int)r.sock_priority;
	p->opts.control_msg_num = r.control_msg_num;
	p->tgt_name = r.tgt_name;
	r.tgt_name = NULL;
out:
	spio_rpc_params_free(g_transport_decoders, SPIO_COUNTOF(g_transport_decoders), &r);
	return rc;
}

void nvmf_rpc_transport_params_free(struct nvmf_rpc_transport_params *p)
{
	free(p->trtype);
	free(p->tgt_name);
	p->trtype = p->tgt_name = NULL;
}

/*
 * nvmf_create_subsystem
 */

struct subsystem_raw {
	struct nvmf_rpc_subsystem_params *p;
	char *nqn;
	char *tgt_name;
	char *serial_number;
	char *model_number;
	char *admin_label;
	uint32_t max_namespaces;
	bool allow_any_host;
	bool ana_reporting;
	uint32_t min_cntlid;
	uint32_t max_cntlid;
	uint32_t dmrsl;
	uint32_t wzsl;
	bool passthrough;
	bool enable_nssr;
};

#define SR(f) offsetof(struct subsystem_raw, f)
static const struct spio_rpc_param g_subsystem_decoders[] = {
    {"nqn", SPIO_RPC_PARAM_STRING, SR(nqn), false},
    {"tgt_name", SPIO_RPC_PARAM_STRING, SR(tgt_name), true},
    {"serial_number", SPIO_RPC_PARAM_STRING, SR(serial_number), true},
    {"model_number", SPIO_RPC_PARAM_STRING, SR(model_number), true},
    {"admin_label", SPIO_RPC_PARAM_STRING, SR(admin_label), true},
    {"max_namespaces", SPIO_RPC_PARAM_UINT32, SR(max_namespaces), true},
    {"allow_any_host", SPIO_RPC_PARAM_BOOL, SR(allow_any_host), true},
    {"ana_reporting", SPIO_RPC_PARAM_BOOL, SR(ana_reporting), true},
    {"min_cntlid", SPIO_RPC_PARAM_UINT32, SR(min_cntlid), true},
    {"max_cntlid", SPIO_RPC_PARAM_UINT32, SR(max_cntlid), true},
    {"dmrsl", SPIO_RPC_PARAM_UINT32, SR(dmrsl), true},
    {"wzsl", SPIO_RPC_PARAM_UINT32, SR(wzsl), true},
    {"passthrough", SPIO_RPC_PARAM_BOOL, SR(passthrough), true},
    {"enable_nssr", SPIO_RPC_PARAM_BOOL, SR(enable_nssr), true},
};
#undef SR

/* Serial and model as Identify carries them: printable ASCII that fits. */
static int check_ascii(const char *name, const char *value, size_t max, char *err, size_t errlen)
{
	size_t len;

	if (value == NULL) {
		return 0;
	}
	len = strlen(value);
	if (len > max) {
		snprintf(err, errlen, "Invalid parameter '%s': '%s' is longer than %zu characters",
			 name, value, max);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		if (value[i] < 0x20 || value[i] > 0x7e) {
			snprintf(err, errlen,
				 "Invalid parameter '%s': only printable ASCII characters are "
				 "allowed",
				 name);
			return -EINVAL;
		}
	}
	return 0;
}

static int subsystem_check(const struct subsystem_raw *r, char *err, size_t errlen)
{
	int rc;

	if ((rc = check_max("min_cntlid", r->min_cntlid, UINT16_MAX, err, errlen)) ||
	    (rc = check_max("max_cntlid", r->max_cntlid, UINT16_MAX, err, errlen)) ||
	    (rc = check_max("wzsl", r->wzsl, UINT8_MAX, err, errlen)) ||
	    (rc = check_ascii("serial_number", r->serial_number, NVMF_RPC_SN_MAX, err, errlen)) ||
	    (rc = check_ascii("model_number", r->model_number, NVMF_RPC_MN_MAX, err, errlen))) {
		return rc;
	}
	if (r->min_cntlid < NVMF_RPC_MIN_CNTLID || r->max_cntlid > NVMF_RPC_MAX_CNTLID ||
	    r->min_cntlid > r->max_cntlid) {
		/* SPDK's message; the range allowed is 1-65519. */
		snprintf(err, errlen, "Invalid cntlid range [%u-%u]", r->min_cntlid, r->max_cntlid);
		return -EINVAL;
	}
	if (r->admin_label != NULL) {
		snprintf(
		    err, errlen,
		    "admin_label '%s': spio's discovery log has no extended entries to carry it",
		    r->admin_label);
		return -ENOTSUP;
	}
	if ((rc = refuse_true("ana_reporting", r->ana_reporting,
			      "spio does not report asymmetric namespace access", err, errlen)) ||
	    (rc = refuse_true("passthrough", r->passthrough, "spio has no NVMe passthrough", err,
			      errlen)) ||
	    (rc = refuse_true("enable_nssr", r->enable_nssr,
			      "spio does not emulate NVM subsystem resets", err, errlen)) ||
	    (rc = refuse_u32("dmrsl", r->dmrsl, NVMF_RPC_DMRSL_DEFAULT,
			     "spio reports SPDK's fixed dataset management range limit", err,
			     errlen)) ||
	    (rc = refuse_u32("wzsl", r->wzsl, NVMF_RPC_WZSL_DEFAULT,
			     "spio reports SPDK's fixed write zeroes size limit", err, errlen))) {
		return rc;
	}
	return 0;
}

int nvmf_rpc_decode_create_subsystem(const struct spio_json_val *params,
				     struct nvmf_rpc_subsystem_params *p, char *err, size_t errlen)
{
	struct subsystem_raw r = {
	    .min_cntlid = NVMF_RPC_MIN_CNTLID,
	    .max_cntlid = NVMF_RPC_MAX_CNTLID,
	    .dmrsl = NVMF_RPC_DMRSL_DEFAULT,
	    .wzsl = NVMF_RPC_WZSL_DEFAULT,
	};
	int rc;

	rc = spio_rpc_decode_params(params, g_subsystem_decoders,
				    SPIO_COUNTOF(g_subsystem_decoders), &r, err, errlen);
	if (rc == 0) {
		rc = subsystem_check(&r, err, errlen);
	}
	/* The strings move to `p` whatever happened: the caller frees them. */
	p->nqn = r.nqn;
	p->tgt_name = r.tgt_name;
	p->serial_number = r.serial_number;
	p->model_number = r.model_number;
	free(r.admin_label);
	p->max_namespaces = r.max_namespaces;
	p->allow_any_host = r.allow_any_host;
	p->min_cntlid = (uint16_t)r.min_cntlid;
	p->max_cntlid = (uint16_t)r.max_cntlid;
	return rc;
}

void nvmf_rpc_subsystem_params_free(struct nvmf_rpc_subsystem_params *p)
{
	free(p->nqn);
	free(p->tgt_name);
	free(p->serial_number);
	free(p->model_number);
	p->nqn = p->tgt_name = p->serial_number = p->model_number = NULL;
}

/*
 * nvmf_subsystem_add_ns
 */

struct ns_raw {
	char *nqn;
	char *tgt_name;
	const struct spio_json_val *ns;
};

static const struct spio_rpc_param g_add_ns_decoders[] = {
    {"nqn", SPIO_RPC_PARAM_STRING, offsetof(struct ns_raw, nqn), false},
    {"namespace", SPIO_RPC_PARAM_OBJECT, offsetof(struct ns_raw, ns), false},
    {"tgt_name", SPIO_RPC_PARAM_STRING, offsetof(struct ns_raw, tgt_name), true},
};

struct ns_obj_raw {
	uint32_t nsid;
	char *bdev_name;
	char *nguid;
	char *eui64;
	struct spio_uuid uuid;
	char *ptpl_file;
	uint32_t anagrpid;
	bool no_auto_visible;
	bool hide_metadata;
};

#define NR(f) offsetof(struct ns_obj_raw, f)
static const struct spio_rpc_param g_ns_decoders[] = {
    {"nsid", SPIO_RPC_PARAM_UINT32, NR(nsid), true},
    {"bdev_name", SPIO_RPC_PARAM_STRING, NR(bdev_name), false},
    {"nguid", SPIO_RPC_PARAM_STRING, NR(nguid), true},
    {"eui64", SPIO_RPC_PARAM_STRING, NR(eui64), true},
    {"uuid", SPIO_RPC_PARAM_UUID, NR(uuid), true},
    {"ptpl_file", SPIO_RPC_PARAM_STRING, NR(ptpl_file), true},
    {"anagrpid", SPIO_RPC_PARAM_UINT32, NR(anagrpid), true},
    {"no_auto_visible", SPIO_RPC_PARAM_BOOL, NR(no_auto_visible), true},
    {"hide_metadata", SPIO_RPC_PARAM_BOOL, NR(hide_metadata), true},
};
#undef NR

static int ns_obj_check(struct ns_obj_raw *r, struct spio_nvmf_ns_opts *opts, char *err,
			size_t errlen)
{
	uint8_t eui[8];
	int rc;

	if (r->ptpl_file != NULL) {
		snprintf(err, errlen,
			 "ptpl_file '%s': spio has no persistent reservations to keep in it",
			 r->ptpl_file);
		return -ENOTSUP;
	}
	if ((rc = refuse_u32("anagrpid", r->anagrpid, 0,
			     "spio does not report asymmetric namespace access", err, errlen)) ||
	    (rc = refuse_true("no_auto_visible", r->no_auto_visible,
			      "every namespace is visible to every allowed host in spio", err,
			      errlen)) ||
	    (rc = refuse_true("hide_metadata", r->hide_metadata, "spio keeps no metadata", err,
			      errlen))) {
		return rc;
	}
	/* SPDK's messages for these two. */
	if (r->nguid != NULL && nvmf_rpc_parse_hex(r->nguid, opts->nguid, sizeof(opts->nguid))) {
		snprintf(err, errlen, "Invalid nguid");
		return -EINVAL;
	}
	if (r->eui64 != NULL) {
		if (nvmf_rpc_parse_hex(r->eui64, eui, sizeof(eui)) != 0) {
			snprintf(err, errlen, "Invalid eui64");
			return -EINVAL;
		}
		opts->eui64 = 0;
		for (size_t i = 0; i < sizeof(eui); i++) {
			opts->eui64 = opts->eui64 << 8 | eui[i];
		}
	}
	opts->nsid = r->nsid;
	opts->uuid = r->uuid;
	return 0;
}

int nvmf_rpc_decode_add_ns(const struct spio_json_val *params, struct nvmf_rpc_ns_params *p,
			   char *err, size_t errlen)
{
	struct ns_raw r = {0};
	struct ns_obj_raw o = {0};
	int rc;

	spio_nvmf_ns_opts_init(&p->opts, sizeof(p->opts));
	rc = spio_rpc_decode_params(params, g_add_ns_decoders, SPIO_COUNTOF(g_add_ns_decoders), &r,
				    err, errlen);
	p->nqn = r.nqn;
	p->tgt_name = r.tgt_name;
	if (rc != 0) {
		return rc;
	}
	rc = spio_rpc_decode_params(r.ns, g_ns_decoders, SPIO_COUNTOF(g_ns_decoders), &o, err,
				    errlen);
	if (rc == 0) {
		rc = ns_obj_check(&o, &p->opts, err, errlen);
	}
	p->bdev_name = o.bdev_name;
	o.bdev_name = NULL;
	spio_rpc_params_free(g_ns_decoders, SPIO_COUNTOF(g_ns_decoders), &o);
	return rc;
}

void nvmf_rpc_ns_params_free(struct nvmf_rpc_ns_params *p)
{
	free(p->nqn);
	free(p->tgt_name);
	free(p->bdev_name);
	p->nqn = p->tgt_name = p->bdev_name = NULL;
}

/*
 * Listeners
 */

struct address_raw {
	char *trtype;
	char *adrfam;
	char *traddr;
	char *trsvcid;
};

#define AR(f) offsetof(struct address_raw, f)
static const struct spio_rpc_param g_address_decoders[] = {
    {"trtype", SPIO_RPC_PARAM_STRING, AR(trtype), false},
    {"adrfam", SPIO_RPC_PARAM_STRING, AR(adrfam), true},
    {"traddr", SPIO_RPC_PARAM_STRING, AR(traddr), false},
    {"trsvcid", SPIO_RPC_PARAM_STRING, AR(trsvcid), true},
};
#undef AR

static int copy_str(char *dst, size_t size, const char *src, const char *what, char *err,
		    size_t errlen)
{
	size_t len = strlen(src);

	if (len >= size) {
		snprintf(err, errlen, "%s longer than %zu characters: %s", what, size - 1, src);
		return -EINVAL;
	}
	memcpy(dst, src, len + 1);
	return 0;
}

static int address_to_trid(const struct address_raw *a, struct spio_nvme_transport_id *trid,
			   char *err, size_t errlen)
{
	int rc;

	memset(trid, 0, sizeof(*trid));
	if (spio_nvme_transport_id_parse_trtype(&trid->trtype, a->trtype) != 0) {
		snprintf(err, errlen, "Invalid trtype: %s", a->trtype);
		return -EINVAL;
	}
	spio_nvme_transport_id_populate_trstring(trid, trid->trtype);
	if (a->adrfam != NULL) {
		if (spio_nvme_transport_id_parse_adrfam(&trid->adrfam, a->adrfam) != 0) {
			snprintf(err, errlen, "Invalid adrfam: %s", a->adrfam);
			return -EINVAL;
		}
	} else if (trid->trtype == SPIO_NVME_TRANSPORT_TCP ||
		   trid->trtype == SPIO_NVME_TRANSPORT_RDMA) {
		/* SPDK's backward compatibility: IPv4 when not given. */
		trid->adrfam = SPIO_NVMF_ADRFAM_IPV4;
	}
	rc = copy_str(trid->traddr, sizeof(trid->traddr), a->traddr, "traddr", err, errlen);
	if (rc == 0 && a->trsvcid != NULL) {
		rc = copy_str(trid->trsvcid, sizeof(trid->trsvcid), a->trsvcid, "trsvcid", err,
			      errlen);
	}
	return rc;
}

int nvmf_rpc_decode_listen_address(const struct spio_json_val *addr,
				   struct spio_nvme_transport_id *trid, char *err, size_t errlen)
{
	struct address_raw a = {0};
	int rc;

	rc = spio_rpc_decode_params(addr, g_address_decoders, SPIO_COUNTOF(g_address_decoders), &a,
				    err, errlen);
	if (rc == 0) {
		rc = address_to_trid(&a, trid, err, errlen);
	}
	spio_rpc_params_free(g_address_decoders, SPIO_COUNTOF(g_address_decoders), &a);
	return rc;
}

struct listener_raw {
	char *nqn;
	char *tgt_name;
	const struct spio_json_val *listen_address;
	bool secure_channel;
	char *ana_state;
	char *sock_impl;
	int32_t numa_id;
};

#define LR(f) offsetof(struct listener_raw, f)
static const struct spio_rpc_param g_add_listener_decoders[] = {
    {"nqn", SPIO_RPC_PARAM_STRING, LR(nqn), false},
    {"tgt_name", SPIO_RPC_PARAM_STRING, LR(tgt_name), true},
    {"listen_address", SPIO_RPC_PARAM_OBJECT, LR(listen_address), false},
    {"secure_channel", SPIO_RPC_PARAM_BOOL, LR(secure_channel), true},
    {"ana_state", SPIO_RPC_PARAM_STRING, LR(ana_state), true},
    {"sock_impl", SPIO_RPC_PARAM_STRING, LR(sock_impl), true},
    {"numa_id", SPIO_RPC_PARAM_INT32, LR(numa_id), true},
};
/* nvmf_subsystem_remove_listener: the first three. */
#define REMOVE_LISTENER_DECODERS 3
#undef LR

static int listener_check(const struct listener_raw *r, char *err, size_t errlen)
{
	int rc = refuse_true("secure_channel", r->secure_channel, "spio has no TLS", err, errlen);

	if (rc != 0) {
		return rc;
	}
	if (r->ana_state != NULL && strcmp(r->ana_state, "optimized") != 0) {
		snprintf(err, errlen,
			 "ana_state %s: spio does not report asymmetric namespace access (only "
			 "SPDK's default, optimized, is accepted)",
			 r->ana_state);
		return -ENOTSUP;
	}
	/* spio's own sockets behave as SPDK's posix implementation. */
	if (r->sock_impl != NULL && strcmp(r->sock_impl, "posix") != 0) {
		snprintf(
		    err, errlen,
		    "sock_impl %s: spio has no pluggable socket layer (only posix is accepted)",
		    r->sock_impl);
		return -ENOTSUP;
	}
	return 0;
}

int nvmf_rpc_decode_listener(const struct spio_json_val *params, bool add,
			     struct nvmf_rpc_listener_params *p, char *err, size_t errlen)
{
	struct listener_raw r = {.numa_id = -1};
	size_t n = add ? SPIO_COUNTOF(g_add_listener_decoders) : REMOVE_LISTENER_DECODERS;
	int rc;

	rc = spio_rpc_decode_params(params, g_add_listener_decoders, n, &r, err, errlen);
	if (rc == 0) {
		rc = listener_check(&r, err, errlen);
	}
	if (rc == 0) {
		rc = nvmf_rpc_decode_listen_address(r.listen_address, &p->trid, err, errlen);
	}
	p->nqn = r.nqn;
	p->tgt_name = r.tgt_name;
	r.nqn = r.tgt_name = NULL;
	spio_rpc_params_free(g_add_listener_decoders, n, &r);
	return rc;
}

void nvmf_rpc_listener_params_free(struct nvmf_rpc_listener_params *p)
{
	free(p->nqn);
	free(p->tgt_name);
	p->nqn = p->tgt_name = NULL;
}

/*
 * nvmf_set_config
 */

struct set_config_raw {
	const struct spio_json_val *admin_cmd_passthru;
	char *poll_groups_mask;
	char *discovery_filter;
	const struct spio_json_val *discovery_filters;
	const struct spio_json_val *dhchap_digests;
	const struct spio_json_val *dhchap_dhgroups;
	char *dup_host_policy;
};

#define CR(f) offsetof(struct set_config_raw, f)
static const struct spio_rpc_param g_set_config_decoders[] = {
    {"admin_cmd_passthru", SPIO_RPC_PARAM_OBJECT, CR(admin_cmd_passthru), true},
    {"poll_groups_mask", SPIO_RPC_PARAM_STRING, CR(poll_groups_mask), true},
    {"discovery_filter", SPIO_RPC_PARAM_STRING, CR(discovery_filter), true},
    {"discovery_filters", SPIO_RPC_PARAM_ARRAY, CR(discovery_filters), true},
    {"dhchap_digests", SPIO_RPC_PARAM_ARRAY, CR(dhchap_digests), true},
    {"dhchap_dhgroups", SPIO_RPC_PARAM_ARRAY, CR(dhchap_dhgroups), true},
    {"dup_host_policy", SPIO_RPC_PARAM_STRING, CR(dup_host_policy), true},
};
#undef CR

const char *const g_nvmf_rpc_passthru_keys[NVMF_RPC_PASSTHRU_KEYS] = {
    "identify_ctrlr",	  "identify_uuid_list", "get_log_page", "get_set_features", "sanitize",
    "security_send_recv", "fw_update",		"nvme_mi",	"vendor_specific",
};
const char *const g_nvmf_rpc_dhchap_digests[NVMF_RPC_DHCHAP_DIGESTS] = {"sha256", "sha384",
									"sha512"};
const char *const g_nvmf_rpc_dhchap_dhgroups[NVMF_RPC_DHCHAP_DHGROUPS] = {
    "null", "ffdhe2048", "ffdhe3072", "ffdhe4096", "ffdhe6144", "ffdhe8192"};

struct passthru_check {
	char *err;
	size_t errlen;
};

static int check_passthru_member(const char *key, const struct spio_json_val *v, void *ctx)
{
	struct passthru_check *c = ctx;
	bool known = false, on;

	for (size_t i = 0; i < SPIO_COUNTOF(g_nvmf_rpc_passthru_keys); i++) {
		known = known || strcmp(key, g_nvmf_rpc_passthru_keys[i]) == 0;
	}
	if (!known) {
		snprintf(c->err, c->errlen, "Unknown parameter 'admin_cmd_passthru.%s'", key);
		return -EINVAL;
	}
	if (spio_json_bool(v, &on) != 0) {
		snprintf(c->err, c->errlen,
			 "Invalid parameter 'admin_cmd_passthru.%s': expected a boolean", key);
		return -EINVAL;
	}
	if (on) {
		snprintf(c->err, c->errlen,
			 "admin_cmd_passthru.%s true: spio has no NVMe passthrough (only SPDK's "
			 "default, false, is accepted)",
			 key);
		return -ENOTSUP;
	}
	return 0;
}

/* `arr` holds exactly the names of `set` (any order, no repeats). */
static int check_name_set(const char *param, const struct spio_json_val *arr,
			  const char *const *set, size_t n, const char *why, char *err,
			  size_t errlen)
{
	size_t count = spio_json_array_size(arr);
	uint32_t seen = 0;

	for (size_t i = 0; i < count; i++) {
		const char *s = spio_json_string(spio_json_array_get(arr, i));
		size_t j;

		if (s == NULL) {
			snprintf(err, errlen,
				 "Invalid parameter '%s': expected an array of strings", param);
			return -EINVAL;
		}
		for (j = 0; j < n && strcmp(s, set[j]) != 0; j++) {
		}
		if (j == n || (seen & (1u << j)) != 0) {
			snprintf(err, errlen, "Invalid parameter '%s': %s '%s'", param,
				 j == n ? "unknown" : "repeated", s);
			return -EINVAL;
		}
		seen |= 1u << j;
	}
	if (seen != (1u << n) - 1) {
		snprintf(err, errlen, "%s: %s (only SPDK's default, all of them, is accepted)",
			 param, why);
		return -ENOTSUP;
	}
	return 0;
}

static int set_config_check(const struct set_config_raw *r, struct nvmf_rpc_conf *conf, char *err,
			    size_t errlen)
{
	struct passthru_check pc = {.err = err, .errlen = errlen};
	struct spio_cpuset mask;
	int rc;

	rc = spio_json_object_foreach(r->admin_cmd_passthru, check_passthru_member, &pc);
	if (rc != 0) {
		return rc;
	}
	if (r->discovery_filter != NULL && strcmp(r->discovery_filter, "match_any") != 0) {
		snprintf(err, errlen,
			 "discovery_filter %s: spio's discovery log lists every listener (only "
			 "SPDK's default, match_any, is accepted)",
			 r->discovery_filter);
		return -ENOTSUP;
	}
	if (spio_json_array_size(r->discovery_filters) != 0) {
		snprintf(err, errlen,
			 "discovery_filters: spio's discovery log lists every listener "
			 "(only SPDK's default, none, is accepted)");
		return -ENOTSUP;
	}
	if (r->dhchap_digests != NULL &&
	    (rc = check_name_set("dhchap_digests", r->dhchap_digests, g_nvmf_rpc_dhchap_digests,
				 NVMF_RPC_DHCHAP_DIGESTS, "spio has no DH-HMAC-CHAP authentication",
				 err, errlen)) != 0) {
		return rc;
	}
	if (r->dhchap_dhgroups != NULL &&
	    (rc = check_name_set("dhchap_dhgroups", r->dhchap_dhgroups, g_nvmf_rpc_dhchap_dhgroups,
				 NVMF_RPC_DHCHAP_DHGROUPS,
				 "spio has no DH-HMAC-CHAP authentication", err, errlen)) != 0) {
		return rc;
	}
	if (r->dup_host_policy != NULL) {
		if (strcmp(r->dup_host_policy, "restrict_per_listener") == 0) {
			snprintf(err, errlen,
				 "dup_host_policy restrict_per_listener: not supported "
				 "(only SPDK's default, allow, is accepted)");
			return -ENOTSUP;
		}
		if (strcmp(r->dup_host_policy, "allow") != 0) {
			snprintf(err, errlen,
				 "Invalid parameter 'dup_host_policy': expected allow or "
				 "restrict_per_listener, got '%s'",
				 r->dup_host_policy);
			return -EINVAL;
		}
	}
	if (r->poll_groups_mask != NULL) {
		if (spio_cpuset_parse(&mask, r->poll_groups_mask) != 0 ||
		    spio_cpuset_first(&mask) < 0) {
			snprintf(err, errlen,
				 "Invalid parameter 'poll_groups_mask': '%s' is not a "
				 "non-empty core mask",
				 r->poll_groups_mask);
			return -EINVAL;
		}
		conf->poll_groups_mask = mask;
		conf->poll_groups_mask_set = true;
	}
	return 0;
}

int nvmf_rpc_decode_set_config(const struct spio_json_val *params, struct nvmf_rpc_conf *conf,
			       char *err, size_t errlen)
{
	struct set_config_raw r = {0};
	struct nvmf_rpc_conf next = *conf;
	int rc;

	rc = spio_rpc_decode_params(params, g_set_config_decoders,
				    SPIO_COUNTOF(g_set_config_decoders), &r, err, errlen);
	if (rc == 0) {
		rc = set_config_check(&r, &next, err, errlen);
	}
	if (rc == 0) {
		*conf = next;
	}
	spio_rpc_params_free(g_set_config_decoders, SPIO_COUNTOF(g_set_config_decoders), &r);
	return rc;
}
