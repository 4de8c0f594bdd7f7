/*
 * spio_identify: what the tool knows about one controller, gathered either
 * from a live controller (identify_collect.c) or from saved raw pages
 * (the offline mode in main.c), and printed by identify_print.c in
 * spdk_nvme_identify's layout or as JSON.
 */
#ifndef SPIO_IDENTIFY_H
#define SPIO_IDENTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "spio/nvme.h"

/* SPDK's identify reads at most this many error log entries (ELPE is 8 bits). */
#define ID_MAX_ERROR_ENTRIES 256

/* One Get Features answer. */
struct id_feature {
	bool valid;
	uint32_t value; /* completion dword 0 */
};

struct id_ns {
	uint32_t nsid;
	struct spio_nvme_ns_data data;
	/* CNS 03h: identification descriptors (UUID, CSI); absent: none known */
	bool have_desc;
	uint8_t desc[SPIO_NVME_IDENTIFY_BUFLEN];
	/* the UUID when no descriptor list is at hand (the driver's copy) */
	bool have_uuid;
	uint8_t uuid[16];
	/* CNS 05h for the NVM command set (extended LBA formats) */
	bool have_nvm;
	uint8_t nvm[SPIO_NVME_IDENTIFY_BUFLEN];
	/* Get Features Error Recovery for this namespace */
	struct id_feature err_rec;
};

struct id_info {
	/* false: saved pages only, so only the sections made from identify data */
	bool live;
	/* "TCP (addr:... subnqn:...)" for a controller, or the data's origin */
	char name[SPIO_NVMF_TRADDR_MAX_LEN + SPIO_NVMF_NQN_MAX_LEN + 32];
	bool fabrics;
	bool discovery;
	struct spio_nvme_ctrlr_data cdata;
	bool have_cap, have_vs;
	union spio_nvme_cap_register cap;
	union spio_nvme_vs_register vs;
	bool have_num_io_queues;
	uint32_t num_io_queues;

	/* live only: features and log pages (each absent when it failed) */
	struct id_feature feat[256];
	bool have_error_log;
	struct spio_nvme_error_information_entry error_log[ID_MAX_ERROR_ENTRIES];
	bool have_health;
	struct spio_nvme_health_information_page health;
	bool have_firmware;
	struct spio_nvme_firmware_page firmware;
	bool have_effects;
	struct spio_nvme_cmds_and_effect_log_page effects;
	uint8_t *ana; /* malloc'ed ANA log page, ana_size bytes */
	uint32_t ana_size;
	struct spio_nvmf_discovery_log_page *discovery_log; /* malloc'ed */

	struct id_ns *ns; /* malloc'ed array of num_ns, in nsid order */
	uint32_t num_ns;
};

/* Output options. */
struct id_print_opts {
	bool json;
	bool hex_dump; /* -x: raw pages in hex before their decoding (text only) */
};

/*
 * Print `info` to stdout: spdk_nvme_identify's sections (all of them for a
 * live controller, the identify ones for saved pages), or one JSON object.
 * Returns 0, or -EIO when stdout failed.
 */
int id_print(const struct id_info *info, const struct id_print_opts *opts);

/*
 * Connect to `trid` (on the current spio thread, polling it) and read what
 * spdk_nvme_identify reads: identify data, features, log pages, namespaces.
 * Failed features and log pages are reported on stderr and left out.
 * Returns 0, or a negative errno when the connect failed (reported).
 */
int id_collect(const struct spio_nvme_transport_id *trid, const struct spio_nvme_ctrlr_opts *opts,
	       struct id_info *info);

/* The namespace's command set: its CSI descriptor, or NVM without one. */
uint8_t id_ns_csi(const struct id_ns *ns);

/* Free what id_collect() or the offline loader allocated inside `info`. */
void id_info_free(struct id_info *info);

#endif /* SPIO_IDENTIFY_H */
