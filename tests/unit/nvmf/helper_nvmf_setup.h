/*
 * Test helper: the NVMe-oF target set-up of the TCP and loopback tests.
 * A target thread (configuration, bdevs) and a host thread, the bdev layer,
 * a target with the TCP transport listening on a free port of 127.0.0.1,
 * malloc bdevs, subsystems and namespaces, and the teardown of all of it.
 *
 * The test decides who polls what: it gives nsu_init() one round over its
 * spio threads (every wait of the helper calls it on the test's OS thread)
 * and polls the target's poll groups with nsu_poll_groups(), on the same OS
 * thread or on another one. "Test's OS thread" below: the one that runs the
 * case; the target's calls are made there with g_nsu.tt entered. Failures
 * are Criterion assertions, not return codes.
 */
#ifndef SPIO_TEST_HELPER_NVMF_SETUP_H
#define SPIO_TEST_HELPER_NVMF_SETUP_H

#include <stdbool.h>
#include <stdint.h>

#include "spio/nvme.h"
#include "spio/nvmf.h"
#include "spio/thread.h"
#include "spio/util.h"

/* One round over the test's spio threads (the target's and the host's). */
typedef void (*nsu_poll_fn)(void);

/* The set-up, valid from nsu_init() to nsu_fini(). */
struct nsu {
	struct spio_thread *tt;		    /* target thread: configuration and bdevs */
	struct spio_thread *ht;		    /* host thread */
	struct spio_nvmf_tgt *tgt;	    /* from nsu_tgt_start() to nsu_tgt_stop() */
	uint16_t port;			    /* the listeners' port of 127.0.0.1 */
	struct spio_nvme_transport_id trid; /* that address, subnqn empty */
};
extern struct nsu g_nsu;

/*
 * Env `name` (no hugepages), the thread library (it hands the target's poll
 * group threads to nsu_poll_groups), threads "<name>_tgt" and "<name>_host",
 * and the bdev layer. `poll` runs every wait; `wait_ms` bounds the set-up's.
 * Test's OS thread; no spio thread is current afterwards.
 */
void nsu_init(const char *name, nsu_poll_fn poll, uint64_t wait_ms);
/* Stop the target if it runs, finish bdevs, exit both threads, fini all; test's OS thread. */
void nsu_fini(void);

/* Call the test's poll function until cond(arg) holds (false after `ms`); test's OS thread. */
bool nsu_poll_until(bool (*cond)(void *), void *arg, uint64_t ms);
/* Condition of nsu_poll_until: the int at `flag` is not 0; any thread. */
bool nsu_flag_set(void *flag);
/* The test's poll function as a helper_tcp_client pump (`arg` unused); test's OS thread. */
void nsu_pump(void *arg);

/* One round over the target's poll group threads; true if any did work. Any OS thread. */
bool nsu_poll_groups(void);
/* Copy up to `max` of the target's poll group threads to `out`; returns how many. Any thread. */
uint32_t nsu_poll_group_threads(struct spio_thread **out, uint32_t max);

/* A TCP port of 127.0.0.1 that nothing is bound to right now; any thread. */
uint16_t nsu_free_port(void);
/* A TCP transport ID for `addr` (IPv6 when it has a ':') and `port`; any thread. */
void nsu_trid(struct spio_nvme_transport_id *trid, const char *addr, uint16_t port);

/*
 * Start g_nsu.tgt: poll groups on cores 0 and 1 (where there are two),
 * `max_conns` connections per listener (0: the default), the TCP transport
 * with `topts` (NULL: defaults), no subsystem yet; g_nsu.port and g_nsu.trid
 * set to a free port of 127.0.0.1 for the listeners. Test's OS thread.
 */
void nsu_tgt_start(const struct spio_nvmf_transport_opts *topts, uint32_t max_conns);
/* Destroy the target (if any), its poll group threads, the malloc bdevs; test's OS thread. */
void nsu_tgt_stop(void);

/* A malloc bdev (`uuid` NULL: random), deleted by nsu_tgt_stop(); test's OS thread. */
void nsu_malloc(const char *name, uint64_t blocks, uint32_t block_size,
		const struct spio_uuid *uuid);
/* Subsystem `nqn` (`max_ns` 0: default), `any_host`, listening if `listen`; test's OS thread. */
struct spio_nvmf_subsystem *nsu_subsys(const char *nqn, uint32_t max_ns, bool any_host,
				       bool listen);
/* Add the listener g_nsu.trid to `s`; test's OS thread. */
void nsu_listen(struct spio_nvmf_subsystem *s);
/* Add `bdev` to `s` (`opts` NULL: defaults) and wait; returns its NSID. Test's OS thread. */
uint32_t nsu_add_ns(struct spio_nvmf_subsystem *s, const char *bdev,
		    const struct spio_nvmf_ns_opts *opts);
/* Remove namespace `nsid` of `s` and wait; test's OS thread. */
void nsu_remove_ns(struct spio_nvmf_subsystem *s, uint32_t nsid);

/*
 * Host side: results of the initiator's asynchronous calls
 */

/* What a connect callback reported. */
struct nsu_connect {
	int done;
	int status;
	struct spio_nvme_ctrlr *ctrlr; /* nsu_ctrlr_connected only */
};
/* spio_nvme_connect_async callback into a struct nsu_connect; on the host thread. */
void nsu_ctrlr_connected(void *arg, struct spio_nvme_ctrlr *ctrlr, int status);
/* spio_nvme_qpair_connect_async callback into a struct nsu_connect; on the host thread. */
void nsu_qpair_connected(void *arg, struct spio_nvme_qpair *qpair, int status);
/* Detach (or any void) callback: sets the int at `flag`; on the host thread. */
void nsu_set_flag(void *flag);

/* One command's completion: how often it came, and the last one. */
struct nsu_io {
	int done;
	struct spio_nvme_cpl cpl;
};
/* Command callback into a struct nsu_io; on the thread polling the qpair. */
void nsu_io_done(void *arg, const struct spio_nvme_cpl *cpl);

#endif /* SPIO_TEST_HELPER_NVMF_SETUP_H */
