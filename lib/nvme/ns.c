/*
 * Namespaces: the active list, identify data and geometry, refreshed at
 * bring-up, after a reset and on a namespace attribute change event.
 *
 * Namespace objects live until the controller is detached, even once
 * inactive: I/O threads may still hold one, and an inactive namespace's
 * commands simply fail at the controller.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spio/log.h"

#include "nvme/nvme_internal.h"

static void ns_set_geometry(struct spio_nvme_ns *ns)
{
	const struct spio_nvme_ns_data *d = &ns->nsdata;
	uint32_t fmt = spio_nvme_ns_data_lba_format_index(d);
	uint32_t lbads = d->lbaf[fmt].lbads;

	/* A controller reporting nonsense must not make us shift by 64. */
	ns->sector_size = lbads >= 9 && lbads < 32 ? 1u << lbads : 512;
	ns->md_size = d->lbaf[fmt].ms;
	ns->extended_lba_size = ns->sector_size + (d->flbas.extended ? ns->md_size : 0);
	ns->pi_type = d->dps.pit;
	ns->num_sectors = d->nsze;
	ns->eui64 = 0;
	for (int i = 0; i < 8; i++) {
		ns->eui64 = (ns->eui64 << 8) | ((const uint8_t *)&d->eui64)[i];
	}
}

/* UUID (and EUI-64 / NGUID if the identify data lacked them) from the descriptor list. */
static void ns_parse_descriptors(struct spio_nvme_ns *ns, const uint8_t *list, size_t len)
{
	size_t off = 0;

	ns->has_uuid = false;
	while (off + sizeof(struct spio_nvme_ns_id_desc) <= len) {
		const struct spio_nvme_ns_id_desc *desc = (const void *)(list + off);
		size_t dlen = desc->nidl;

		if (desc->nidt == 0 || off + sizeof(*desc) + dlen > len) {
			break;
		}
		if (desc->nidt == SPIO_NVME_NIDT_UUID && dlen == 16) {
			memcpy(ns->uuid, desc->nid, 16);
			ns->has_uuid = true;
		}
		off += sizeof(*desc) + dlen;
	}
}

struct spio_nvme_ns *nvme_ctrlr_find_ns(const struct spio_nvme_ctrlr *ctrlr, uint32_t nsid)
{
	for (uint32_t i = 0; i < ctrlr->num_ns_objs; i++) {
		if (ctrlr->ns[i]->id == nsid) {
			return ctrlr->ns[i];
		}
	}
	return NULL;
}

static struct spio_nvme_ns *ns_get_or_create(struct spio_nvme_ctrlr *ctrlr, uint32_t nsid)
{
	struct spio_nvme_ns **grown;
	struct spio_nvme_ns *ns = nvme_ctrlr_find_ns(ctrlr, nsid);

	if (ns != NULL) {
		return ns;
	}
	grown = realloc(ctrlr->ns, (ctrlr->num_ns_objs + 1) * sizeof(*grown));
	if (grown == NULL) {
		return NULL;
	}
	ctrlr->ns = grown;
	ns = calloc(1, sizeof(*ns));
	if (ns == NULL) {
		return NULL;
	}
	ns->ctrlr = ctrlr;
	ns->id = nsid;
	ctrlr->ns[ctrlr->num_ns_objs++] = ns;
	return ns;
}

/* Identify the active namespace IDs, in pages of 1024 (CNS 02h). */
static int read_active_ids(struct spio_nvme_ctrlr *ctrlr, uint32_t **ids_out, uint32_t *count_out)
{
	struct spio_nvme_ns_list *page = malloc(sizeof(*page));
	uint32_t *ids = NULL, count = 0, start = 0;
	int rc = 0;

	if (page == NULL) {
		return -ENOMEM;
	}
	for (;;) {
		struct spio_nvme_cmd cmd;
		uint32_t n = 0;
		uint32_t *grown;

		nvme_identify_cmd_init(&cmd, SPIO_NVME_IDENTIFY_ACTIVE_NS_LIST, 0, start);
		memset(page, 0, sizeof(*page));
		rc = nvme_admin_await(ctrlr, &cmd, page, sizeof(*page), NULL);
		if (rc != 0) {
			break;
		}
		while (n < SPIO_NVME_NS_LIST_MAX && page->ns_list[n] != 0 &&
		       page->ns_list[n] > start) {
			n++;
		}
		grown = realloc(ids, (count + n + 1) * sizeof(*ids));
		if (grown == NULL) {
			rc = -ENOMEM;
			break;
		}
		ids = grown;
		memcpy(ids + count, page->ns_list, n * sizeof(*ids));
		count += n;
		if (n < SPIO_NVME_NS_LIST_MAX) {
			break;
		}
		start = page->ns_list[n - 1];
	}
	free(page);
	if (rc != 0) {
		free(ids);
		return rc;
	}
	*ids_out = ids;
	*count_out = count;
	return 0;
}

static int identify_ns(struct spio_nvme_ctrlr *ctrlr, struct spio_nvme_ns *ns, void *buf,
		       bool *changed)
{
	struct spio_nvme_cmd cmd;
	const struct spio_nvme_ns_data *d = buf;
	int rc;

	nvme_identify_cmd_init(&cmd, SPIO_NVME_IDENTIFY_NS, 0, ns->id);
	rc = nvme_admin_await(ctrlr, &cmd, buf, sizeof(ns->nsdata), NULL);
	if (rc != 0) {
		return rc;
	}
	*changed = ns->active &&
		   (d->nsze != ns->nsdata.nsze || d->flbas.format != ns->nsdata.flbas.format);
	memcpy(&ns->nsdata, d, sizeof(ns->nsdata));
	ns_set_geometry(ns);
	if (ctrlr->vs.raw >= SPIO_NVME_VERSION(1, 3, 0)) {
		nvme_identify_cmd_init(&cmd, SPIO_NVME_IDENTIFY_NS_ID_DESCRIPTOR_LIST, 0, ns->id);
		memset(buf, 0, 4096);
		/* Optional for the controller: a refusal only means no UUID. */
		if (nvme_admin_await(ctrlr, &cmd, buf, 4096, NULL) == 0) {
			ns_parse_descriptors(ns, buf, 4096);
		}
	}
	return 0;
}

static void notify(struct spio_nvme_ctrlr *ctrlr, uint32_t nsid, enum spio_nvme_ns_event ev)
{
	if (ctrlr->ns_change_cb != NULL) {
		ctrlr->ns_change_cb(ctrlr->ns_change_cb_arg, ctrlr, nsid, ev);
	}
}

static bool id_in(const uint32_t *ids, uint32_t n, uint32_t id)
{
	for (uint32_t i = 0; i < n; i++) {
		if (ids[i] == id) {
			return true;
		}
	}
	return false;
}

int nvme_ctrlr_refresh_namespaces(struct spio_nvme_ctrlr *ctrlr, bool send_events)
{
	uint32_t *ids, count, *old = ctrlr->active_ids, old_count = ctrlr->num_active;
	bool *added = NULL, *resized = NULL;
	void *buf;
	int rc;

	rc = read_active_ids(ctrlr, &ids, &count);
	if (rc != 0) {
		return rc;
	}
	buf = malloc(4096);
	added = calloc(count + 1, sizeof(*added));
	resized = calloc(count + 1, sizeof(*resized));
	if (buf == NULL || added == NULL || resized == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < count && rc == 0; i++) {
		struct spio_nvme_ns *ns = ns_get_or_create(ctrlr, ids[i]);

		if (ns == NULL) {
			rc = -ENOMEM;
			break;
		}
		rc = identify_ns(ctrlr, ns, buf, &resized[i]);
		added[i] = !ns->active;
		ns->active = rc == 0;
	}
	if (rc != 0) {
		SPIO_ERRLOG("nvme %s: reading namespaces failed: %d\n", ctrlr->trid.traddr, rc);
		goto out;
	}
	for (uint32_t i = 0; i < old_count; i++) {
		if (!id_in(ids, count, old[i])) {
			nvme_ctrlr_find_ns(ctrlr, old[i])->active = false;
		}
	}
	ctrlr->active_ids = ids;
	ctrlr->num_active = count;
	ids = old;
	if (send_events) {
		for (uint32_t i = 0; i < old_count; i++) {
			if (!id_in(ctrlr->active_ids, count, old[i])) {
				notify(ctrlr, old[i], SPIO_NVME_NS_REMOVED);
			}
		}
		for (uint32_t i = 0; i < count; i++) {
			if (added[i]) {
				notify(ctrlr, ctrlr->active_ids[i], SPIO_NVME_NS_ADDED);
			} else if (resized[i]) {
				notify(ctrlr, ctrlr->active_ids[i], SPIO_NVME_NS_RESIZED);
			}
		}
	}
out:
	free(ids);
	free(buf);
	free(added);
	free(resized);
	return rc;
}

void nvme_ctrlr_free_namespaces(struct spio_nvme_ctrlr *ctrlr)
{
	for (uint32_t i = 0; i < ctrlr->num_ns_objs; i++) {
		free(ctrlr->ns[i]);
	}
	free(ctrlr->ns);
	free(ctrlr->active_ids);
	ctrlr->ns = NULL;
	ctrlr->active_ids = NULL;
	ctrlr->num_ns_objs = 0;
	ctrlr->num_active = 0;
}

/* Index of the first active id > `after` (binary search), or num_active. */
static uint32_t active_index_after(const struct spio_nvme_ctrlr *ctrlr, uint32_t after)
{
	uint32_t lo = 0, hi = ctrlr->num_active;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (ctrlr->active_ids[mid] <= after) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return lo;
}

uint32_t spio_nvme_ctrlr_get_first_active_ns(const struct spio_nvme_ctrlr *ctrlr)
{
	return ctrlr != NULL && ctrlr->num_active > 0 ? ctrlr->active_ids[0] : 0;
}

uint32_t spio_nvme_ctrlr_get_next_active_ns(const struct spio_nvme_ctrlr *ctrlr, uint32_t prev_nsid)
{
	uint32_t i;

	if (ctrlr == NULL) {
		return 0;
	}
	i = active_index_after(ctrlr, prev_nsid);
	return i < ctrlr->num_active ? ctrlr->active_ids[i] : 0;
}

bool spio_nvme_ctrlr_is_active_ns(const struct spio_nvme_ctrlr *ctrlr, uint32_t nsid)
{
	uint32_t i;

	if (ctrlr == NULL || nsid == 0) {
		return false;
	}
	i = active_index_after(ctrlr, nsid - 1);
	return i < ctrlr->num_active && ctrlr->active_ids[i] == nsid;
}

struct spio_nvme_ns *spio_nvme_ctrlr_get_ns(struct spio_nvme_ctrlr *ctrlr, uint32_t nsid)
{
	return spio_nvme_ctrlr_is_active_ns(ctrlr, nsid) ? nvme_ctrlr_find_ns(ctrlr, nsid) : NULL;
}

uint32_t spio_nvme_ns_get_id(const struct spio_nvme_ns *ns)
{
	return ns->id;
}

struct spio_nvme_ctrlr *spio_nvme_ns_get_ctrlr(const struct spio_nvme_ns *ns)
{
	return ns->ctrlr;
}

const struct spio_nvme_ns_data *spio_nvme_ns_get_data(const struct spio_nvme_ns *ns)
{
	return &ns->nsdata;
}

uint64_t spio_nvme_ns_get_num_sectors(const struct spio_nvme_ns *ns)
{
	return ns->num_sectors;
}

uint32_t spio_nvme_ns_get_sector_size(const struct spio_nvme_ns *ns)
{
	return ns->sector_size;
}

uint32_t spio_nvme_ns_get_extended_sector_size(const struct spio_nvme_ns *ns)
{
	return ns->extended_lba_size;
}

uint64_t spio_nvme_ns_get_size(const struct spio_nvme_ns *ns)
{
	return ns->num_sectors * ns->sector_size;
}

uint32_t spio_nvme_ns_get_md_size(const struct spio_nvme_ns *ns)
{
	return ns->md_size;
}

bool spio_nvme_ns_supports_extended_lba(const struct spio_nvme_ns *ns)
{
	return ns->nsdata.flbas.extended;
}

uint32_t spio_nvme_ns_get_pi_type(const struct spio_nvme_ns *ns)
{
	return ns->pi_type;
}

const uint8_t *spio_nvme_ns_get_uuid(const struct spio_nvme_ns *ns)
{
	return ns->has_uuid ? ns->uuid : NULL;
}

const uint8_t *spio_nvme_ns_get_nguid(const struct spio_nvme_ns *ns)
{
	static const uint8_t zero[16];

	return memcmp(ns->nsdata.nguid, zero, sizeof(zero)) != 0 ? ns->nsdata.nguid : NULL;
}

uint64_t spio_nvme_ns_get_eui64(const struct spio_nvme_ns *ns)
{
	return ns->eui64;
}

uint32_t spio_nvme_ns_get_optimal_io_boundary(const struct spio_nvme_ns *ns)
{
	return ns->nsdata.noiob;
}

uint32_t spio_nvme_ns_get_max_io_xfer_size(const struct spio_nvme_ns *ns)
{
	return ns->ctrlr->max_xfer_size;
}
