/*
 * The NVMe-oF target's RPC layer: SPDK's nvmf_* methods (nvmf_rpc*.c), the
 * app framework's "nvmf" subsystem and save_config (nvmf_config.c), over
 * spio/nvmf.h. Private to lib/nvmf.
 *
 * The target is started by the first nvmf_* method that needs it, not when
 * the app starts: a program that never exports anything (spio_perf, the
 * unit tests' apps) then runs no poll group threads. nvmf_set_config,
 * nvmf_set_max_subsystems and nvmf_set_crdt (start-up only, as in SPDK) set
 * what it starts with. Everything runs on the app thread (the RPC server's),
 * which is the target thread.
 */
#ifndef SPIO_NVMF_RPC_H
#define SPIO_NVMF_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spio/cpuset.h"
#include "spio/nvmf.h"
#include "spio/rpc.h"

/* The target spio_tgt runs (SPDK's default target name). */
#define NVMF_RPC_TGT_NAME "nvmf_tgt"

/* SPDK's discovery NQN, which SPDK's save_config names for discovery listeners. */
#define NVMF_RPC_DISCOVERY_NQN "nqn.2014-08.org.nvmexpress.discovery"

/* SPDK's defaults that spio only accepts (create_subsystem / create_transport). */
#define NVMF_RPC_DMRSL_DEFAULT 2097152u
#define NVMF_RPC_WZSL_DEFAULT 12u
#define NVMF_RPC_KAS_DEFAULT 100u
#define NVMF_RPC_MIN_KATO_DEFAULT 10000u
#define NVMF_RPC_IOBUF_CACHE_DEFAULT UINT32_MAX
#define NVMF_RPC_MIN_CNTLID 1u
#define NVMF_RPC_MAX_CNTLID 0xFFEFu
#define NVMF_RPC_SN_MAX 20
#define NVMF_RPC_MN_MAX 40
#define NVMF_RPC_DEFAULT_MAX_NAMESPACES 32u
#define NVMF_RPC_DEFAULT_MAX_SUBSYSTEMS 1024u

/*
 * SPDK's names of what nvmf_set_config configures: the admin commands it
 * may pass through, the DH-HMAC-CHAP digests and groups (SPDK's default
 * allows them all).
 */
#define NVMF_RPC_PASSTHRU_KEYS 9
#define NVMF_RPC_DHCHAP_DIGESTS 3
#define NVMF_RPC_DHCHAP_DHGROUPS 6
extern const char *const g_nvmf_rpc_passthru_keys[NVMF_RPC_PASSTHRU_KEYS];
extern const char *const g_nvmf_rpc_dhchap_digests[NVMF_RPC_DHCHAP_DIGESTS];
extern const char *const g_nvmf_rpc_dhchap_dhgroups[NVMF_RPC_DHCHAP_DHGROUPS];

/*
 * Target-wide settings (nvmf_set_config, nvmf_set_max_subsystems,
 * nvmf_set_crdt), used when the target starts.
 */
struct nvmf_rpc_conf {
	uint32_t max_subsystems;   /* 0: not set (SPDK's default, 1024) */
	bool poll_groups_mask_set; /* else every core of the app */
	struct spio_cpuset poll_groups_mask;
};

/*
 * Decoded parameters. The decode functions take a params object (NULL
 * decodes as {}), fill `p` (strings malloc'ed: free with the matching
 * _free function, also after an error) and return 0; -EINVAL with a
 * message in `err` for a malformed or out-of-range parameter; -ENOTSUP
 * with a message for a parameter spio does not support away from SPDK's
 * default. Both are answered with -32602. Any thread.
 */

/* nvmf_create_transport: opts start from the transport's defaults. */
struct nvmf_rpc_transport_params {
	char *trtype; /* canonical ("TCP") once decoded */
	char *tgt_name;
	struct spio_nvmf_transport_opts opts;
};
int nvmf_rpc_decode_create_transport(const struct spio_json_val *params,
				     struct nvmf_rpc_transport_params *p, char *err, size_t errlen);
void nvmf_rpc_transport_params_free(struct nvmf_rpc_transport_params *p);

/* nvmf_create_subsystem. */
struct nvmf_rpc_subsystem_params {
	char *nqn;
	char *tgt_name;
	char *serial_number; /* NULL: SPDK's default */
	char *model_number;
	uint32_t max_namespaces; /* 0: SPDK's default (32) */
	bool allow_any_host;
	uint16_t min_cntlid;
	uint16_t max_cntlid;
};
int nvmf_rpc_decode_create_subsystem(const struct spio_json_val *params,
				     struct nvmf_rpc_subsystem_params *p, char *err, size_t errlen);
void nvmf_rpc_subsystem_params_free(struct nvmf_rpc_subsystem_params *p);

/* nvmf_subsystem_add_ns. */
struct nvmf_rpc_ns_params {
	char *nqn;
	char *tgt_name;
	char *bdev_name;
	struct spio_nvmf_ns_opts opts;
};
int nvmf_rpc_decode_add_ns(const struct spio_json_val *params, struct nvmf_rpc_ns_params *p,
			   char *err, size_t errlen);
void nvmf_rpc_ns_params_free(struct nvmf_rpc_ns_params *p);

/* nvmf_subsystem_add_listener / _remove_listener (`add` allows the options of adding). */
struct nvmf_rpc_listener_params {
	char *nqn;
	char *tgt_name;
	struct spio_nvme_transport_id trid;
};
int nvmf_rpc_decode_listener(const struct spio_json_val *params, bool add,
			     struct nvmf_rpc_listener_params *p, char *err, size_t errlen);
void nvmf_rpc_listener_params_free(struct nvmf_rpc_listener_params *p);

/*
 * A listen_address object ({trtype, adrfam, traddr, trsvcid}) as a
 * transport ID, with SPDK's rules: adrfam defaults to IPv4 for TCP and
 * RDMA, traddr and trsvcid must fit. \return 0 or -EINVAL with a message.
 */
int nvmf_rpc_decode_listen_address(const struct spio_json_val *addr,
				   struct spio_nvme_transport_id *trid, char *err, size_t errlen);

/* nvmf_set_config into `conf` (its other fields kept). */
int nvmf_rpc_decode_set_config(const struct spio_json_val *params, struct nvmf_rpc_conf *conf,
			       char *err, size_t errlen);

/*
 * `hex`, exactly 2 * `size` hex digits (either case), into `out`, first
 * digits first. \return 0 or -EINVAL.
 */
int nvmf_rpc_parse_hex(const char *hex, uint8_t *out, size_t size);

/*
 * The target for a method. `tgt_name` NULL or SPDK's default name selects
 * the target spio_tgt runs, started now if it is not (with the settings of
 * nvmf_set_*); another name must be a running target. `fn` runs exactly
 * once on the app thread, now or once the target started, with the target
 * and 0, or NULL and -ENOENT (no target of that name), -ESHUTDOWN (the app
 * is stopping) or the start's error: it answers `req` and frees `ctx`.
 */
typedef void (*nvmf_rpc_tgt_fn)(struct spio_jsonrpc_request *req, struct spio_nvmf_tgt *tgt,
				int status, void *ctx);
void nvmf_rpc_with_tgt(struct spio_jsonrpc_request *req, const char *tgt_name, nvmf_rpc_tgt_fn fn,
		       void *ctx);

/*
 * The subsystem `nqn` of `tgt`; if there is none, `req` is answered with
 * SPDK's error (-32602 "Subsystem with NQN '...' not found") and NULL
 * returned.
 */
struct spio_nvmf_subsystem *nvmf_rpc_find_subsystem(struct spio_jsonrpc_request *req,
						    struct spio_nvmf_tgt *tgt, const char *nqn);

/* SPDK's answer when `fn` of nvmf_rpc_with_tgt got an error, for the lookup methods. */
void nvmf_rpc_send_tgt_error(struct spio_jsonrpc_request *req, const char *tgt_name, int status);

/*
 * JSON output shared by the getters and save_config.
 */

/* The members of a listen_address object (trtype, adrfam, traddr, trsvcid), as SPDK writes them. */
void nvmf_rpc_write_trid(struct spio_json_write_ctx *w, const struct spio_nvme_transport_id *trid);

/* A transport's options as SPDK's nvmf_get_transports entry / create_transport params. */
void nvmf_rpc_write_transport_opts(struct spio_json_write_ctx *w, const char *trtype,
				   const struct spio_nvmf_transport_opts *opts);

/* `len` bytes as upper-case hex digits (SPDK's nguid / eui64 form) into `buf` (2 * len + 1). */
void nvmf_rpc_fmt_hex(char *buf, const uint8_t *bytes, size_t len);

#endif /* SPIO_NVMF_RPC_H */
