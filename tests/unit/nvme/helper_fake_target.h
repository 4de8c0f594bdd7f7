/*
 * Test helper: a fake NVMe/TCP target on 127.0.0.1 that can misbehave on
 * demand, for the tests of the NVMe/TCP initiator.
 *
 * It behaves as a minimal NVMe-oF subsystem with RAM namespaces (512-byte
 * blocks): ICReq / ICResp, Fabrics Connect (dynamic controllers, cntlid 1,
 * 2, ...), Property Get / Set, Identify, features, log pages (error, SMART,
 * firmware slot, changed namespaces, discovery), AER, Keep Alive, Abort,
 * and Read / Write / Flush / Write Zeroes / Dataset Management / Compare.
 * Writes larger than the in-capsule size (4096 on I/O queues, 8192 on the
 * admin queue) go through R2T / H2CData; reads come back as C2HData PDUs.
 * The discovery NQN gives a discovery controller whose log lists the fake
 * itself. MDTS (5: 128 KiB) is advertised but not enforced: one command may
 * move up to FAKE_TARGET_MAX_XFER bytes.
 *
 * Strict where a host bug would hide: admin commands before CC.EN = 1 and
 * I/O queue Connects before CSTS.RDY = 1 fail with Command Sequence Error;
 * an admin Connect must carry cntlid FFFFh. A controller ends with its
 * admin connection, and CC.EN 1 -> 0 drops its I/O queues, as on a real
 * target. A stream the codec refuses gets a C2HTermReq, then the close.
 *
 * Threads: the fake serves from its own OS threads (one accepts, one per
 * connection), never from spio threads. Every function here may be called
 * from any thread while it serves, except fake_target_stop(), which must
 * not race with other calls on the same target.
 *
 * Output: nothing on stdout; with opts.verbose a line per event on stderr.
 */
#ifndef SPIO_TEST_HELPER_FAKE_TARGET_H
#define SPIO_TEST_HELPER_FAKE_TARGET_H

#include <stdbool.h>
#include <stdint.h>

/* Subsystem NQN when opts.subnqn is NULL. */
#define FAKE_TARGET_SUBNQN "nqn.2016-06.io.spio:fake"
/* Namespace IDs the fake serves: 1..FAKE_TARGET_MAX_NS (Identify nn). */
#define FAKE_TARGET_MAX_NS 32u
/* Largest data of one command; beyond it: Data SGL Length Invalid. */
#define FAKE_TARGET_MAX_XFER (8u * 1024 * 1024)

struct fake_target_opts {
	uint16_t port;	    /* TCP port on 127.0.0.1; 0: any free port */
	const char *subnqn; /* NULL: FAKE_TARGET_SUBNQN; copied */
	/* Host NQNs allowed to connect, NULL-terminated, copied; NULL: any host. */
	const char *const *allowed_hosts;
	uint32_t num_namespaces; /* namespaces 1..N at start (fake_target_opts_init: 1) */
	uint64_t ns_size;	 /* bytes per namespace, multiple of 512; 0: 64 MiB */
	bool digests;		 /* grant the header / data digests a host asks for */
	/*
	 * Last C2HData of a successful read carries SUCCESS and no CapsuleResp
	 * follows (whatever the Connect said about SQ flow control, unlike a
	 * real target, so the host's path runs in every test that wants it).
	 */
	bool c2h_success;
	uint32_t maxh2cdata;	/* ICResp MAXH2CDATA; 0: 131072 */
	uint32_t r2t_max;	/* most bytes one R2T asks for; 0: the whole transfer */
	uint32_t c2h_max;	/* most data bytes per C2HData PDU; 0: 131072 */
	uint16_t mqes;		/* CAP.MQES, 0's based; 0: 127 */
	uint16_t num_io_queues; /* I/O queues granted per controller; 0: 8 */
	/* Drop every queue of a controller when no admin command comes within its KATO. */
	bool kato_enforce;
	bool verbose;
};

/* One-shot faults, see fake_target_inject(). */
enum fake_fault {
	/* The next PDU sent carries a wrong header digest (queues with header digests only). */
	FAULT_BAD_HDGST,
	/* The next C2HData carries a wrong data digest (queues with data digests only). */
	FAULT_BAD_DDGST,
	/* Send the first half of the next PDU, then close the connection. */
	FAULT_TRUNCATE,
	/*
	 * The next command that returns data gets one C2HData instead: arg 0:
	 * 512 bytes more than the command asked for (a complete PDU); arg N:
	 * only a header whose DATAL (and PLEN) claim N bytes, nothing after it.
	 */
	FAULT_OVERSIZE_C2H,
	/* Before answering the next command, send a PDU of type 0x0F (header only). */
	FAULT_UNKNOWN_PDU_TYPE,
	/* Before answering the next command, send a C2HData for a cid that is not outstanding. */
	FAULT_C2H_UNKNOWN_CID,
	/* The next command that returns data: send half of its data, then close. */
	FAULT_CLOSE_MID_DATA,
	/* Never answer the next command (no R2T, data or response). */
	FAULT_DROP_RESPONSE,
	/*
	 * Answer the next command with status arg = (sct << 8) | sc, without
	 * running it; arg bit 16 also sets DNR.
	 */
	FAULT_STATUS,
	/* Hold the connection arg ms before handling the next command. */
	FAULT_DELAY_MS,
	FAULT_COUNT
};

/* Queue filters of fake_target_inject_qid() (else an exact queue ID). */
#define FAKE_QID_ANY (-1) /* any queue */
#define FAKE_QID_IO (-2)  /* any I/O queue (qid >= 1) */

/* What the fake has seen; fake_target_get_stats() copies it. */
struct fake_target_stats {
	uint64_t connections_accepted;
	uint32_t connections_open;
	uint64_t controllers_created;
	uint64_t admin_cmds[256];   /* per opcode on admin queues (Fabrics: 0x7f) */
	uint64_t io_cmds[256];	    /* per opcode on I/O queues (their Connect: 0x7f) */
	uint64_t fabrics_cmds[256]; /* per Fabrics command type, any queue */
	uint64_t bytes_read;	    /* by Read commands that succeeded */
	uint64_t bytes_written;	    /* by Write commands that succeeded */
	uint64_t r2t_sent;
	uint64_t h2c_received;
	uint64_t c2h_sent;
	uint64_t term_reqs_received;
	uint16_t last_term_req_fes; /* FES of the last H2CTermReq received */
	uint64_t term_reqs_sent;    /* C2HTermReqs: the host's stream was bad */
	uint16_t last_term_req_sent_fes;
	uint32_t aers_held; /* AERs waiting for an event now */
	uint64_t aens_sent; /* AERs completed with an event */
	uint64_t kato_expired;
	uint64_t faults_fired[FAULT_COUNT];
};

struct fake_target;

/* Fill `opts` with the defaults (one namespace of 64 MiB, no digests, port 0). */
void fake_target_opts_init(struct fake_target_opts *opts);

/*
 * Listen on 127.0.0.1 and start serving from new threads.
 * \param opts NULL for the defaults of fake_target_opts_init(); copied.
 * \return the target, or NULL (bad options, port in use, no memory); a
 *         line on stderr says why.
 */
struct fake_target *fake_target_start(const struct fake_target_opts *opts);

/* The TCP port the target listens on. */
uint16_t fake_target_port(const struct fake_target *ft);

/*
 * Close every connection and the listener, join all threads, free the
 * target (NULL is a no-op). Bounded: a host that never reads cannot make it
 * hang.
 */
void fake_target_stop(struct fake_target *ft);

/*
 * Add namespace `nsid` (1..FAKE_TARGET_MAX_NS) of `size` bytes (a nonzero
 * multiple of 512), zero filled. Every I/O controller records the change in
 * its Changed Namespace List log and, when its Asynchronous Event
 * Configuration enables namespace attribute notices, completes a held AER
 * (or the next one) with a notice (type 2, info 0, log page 0x04); no more
 * notices until the host reads that log page with RAE 0.
 * \return 0; -EINVAL for a bad nsid or size; -EEXIST; -ENOMEM.
 */
int fake_target_add_ns(struct fake_target *ft, uint32_t nsid, uint64_t size);

/*
 * Remove namespace `nsid`: commands on it fail with Invalid Namespace from
 * now on; the change is reported as in fake_target_add_ns().
 * \return 0; -ENOENT when it is not there.
 */
int fake_target_remove_ns(struct fake_target *ft, uint32_t nsid);

/*
 * Copy `len` bytes of namespace `nsid` from byte `offset` into `buf` (read)
 * or from `buf` into the namespace (write), bypassing the wire.
 * \return 0; -ENOENT for no such namespace; -ERANGE beyond its end.
 */
int fake_target_ns_read(struct fake_target *ft, uint32_t nsid, uint64_t offset, void *buf,
			uint64_t len);
int fake_target_ns_write(struct fake_target *ft, uint32_t nsid, uint64_t offset, const void *buf,
			 uint64_t len);

/*
 * Reset every connection now (TCP RST): hosts see the connection fail.
 * Controllers go with their admin connections. Returns once the sockets
 * are closed (at most a few seconds).
 * \return connections dropped, or -ETIMEDOUT when one did not close in time.
 */
int fake_target_drop_connections(struct fake_target *ft);

/*
 * Arm a one-shot fault for the next matching PDU or command on any I/O
 * queue; same as fake_target_inject_qid(ft, fault, arg, FAKE_QID_IO).
 */
int fake_target_inject(struct fake_target *ft, enum fake_fault fault, uint32_t arg);

/*
 * Arm a one-shot fault (see enum fake_fault for each one's `arg`) for the
 * next matching PDU or command on queues that match `qid`: FAKE_QID_ANY,
 * FAKE_QID_IO or an exact queue ID (of any controller). Faults fire only on
 * queues whose Connect succeeded, never on Fabrics commands (Connect,
 * Property Get / Set) nor their responses. Arming a fault that is armed
 * already replaces its arg and filter. stats.faults_fired counts the
 * faults that fired.
 * \return 0, or -EINVAL for an unknown fault or filter.
 */
int fake_target_inject_qid(struct fake_target *ft, enum fake_fault fault, uint32_t arg, int qid);

/* Disarm every fault that has not fired. */
void fake_target_clear_faults(struct fake_target *ft);

/* Copy the counters into `out`. */
void fake_target_get_stats(struct fake_target *ft, struct fake_target_stats *out);

/*
 * Wait until `pred(stats, arg)` holds or `timeout_ms` passes; `pred` runs
 * with the target's lock held (it must only read the stats it is given).
 * \return true when it held.
 */
bool fake_target_wait(struct fake_target *ft,
		      bool (*pred)(const struct fake_target_stats *stats, void *arg), void *arg,
		      int timeout_ms);

#endif /* SPIO_TEST_HELPER_FAKE_TARGET_H */
