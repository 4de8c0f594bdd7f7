/*
 * Subsystems: NQN rules, creation and destruction, serial / model /
 * controller ID range, the allowed hosts and the listeners a subsystem is
 * reached on. Target thread.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/log.h"
#include "spio/util.h"

#include "nvmf/nvmf_core.h"

#define NQN_UUID_PREFIX "nqn.2014-08.org.nvmexpress:uuid:"
/* A domain label is at most 63 characters (RFC 1034). */
#define DOMAIN_LABEL_MAX_LEN 63

/*
 * NQN rules
 */

/* Bytes of the UTF-8 character at s (RFC 3629: no overlong forms, no surrogates), or 0. */
static size_t utf8_char_len(const unsigned char *s, const unsigned char *end)
{
	size_t len, i;
	uint32_t cp;

	if (s[0] < 0x80) {
		return s[0] != 0 ? 1 : 0;
	} else if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if ((size_t)(end - s) < len) {
		return 0;
	}
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			return 0;
		}
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
		return 0;
	}
	return len;
}

/* "label.label..." of [start, end): letters, digits, inner hyphens, a letter first. */
static bool reverse_domain_valid(const char *nqn, size_t start, size_t end)
{
	size_t label_len = 0;

	for (size_t i = start; i < end; i++) {
		char c = nqn[i];

		if (c == '.') {
			if (label_len == 0 || nqn[i - 1] == '-') {
				return false;
			}
			label_len = 0;
			continue;
		}
		if (label_len == 0 && !isalpha((unsigned char)c)) {
			return false;
		}
		if (!isalnum((unsigned char)c) && c != '-') {
			return false;
		}
		if (++label_len > DOMAIN_LABEL_MAX_LEN) {
			return false;
		}
	}
	return label_len > 0 && nqn[end - 1] != '-';
}

bool spio_nvmf_nqn_is_valid(const char *nqn)
{
	const unsigned char *p, *end;
	const char *colon;
	size_t len;

	if (nqn == NULL) {
		return false;
	}
	len = strnlen(nqn, SPIO_NVMF_NQN_MAX_LEN + 1);
	if (len > SPIO_NVMF_NQN_MAX_LEN || len < SPIO_NVMF_NQN_MIN_LEN) {
		return false;
	}
	if (strcmp(nqn, SPIO_NVMF_DISCOVERY_NQN) == 0) {
		return true;
	}
	if (strncmp(nqn, NQN_UUID_PREFIX, strlen(NQN_UUID_PREFIX)) == 0) {
		struct spio_uuid uuid;

		return len == strlen(NQN_UUID_PREFIX) + SPIO_UUID_STRING_LEN - 1 &&
		       spio_uuid_parse(&uuid, nqn + strlen(NQN_UUID_PREFIX)) == 0;
	}
	if (strncmp(nqn, "nqn.", 4) != 0 || !isdigit((unsigned char)nqn[4]) ||
	    !isdigit((unsigned char)nqn[5]) || !isdigit((unsigned char)nqn[6]) ||
	    !isdigit((unsigned char)nqn[7]) || nqn[8] != '-' || !isdigit((unsigned char)nqn[9]) ||
	    !isdigit((unsigned char)nqn[10]) || nqn[11] != '.') {
		return false;
	}
	colon = strchr(nqn, ':');
	if (colon == NULL || (size_t)(colon - nqn) >= len - 1) {
		return false;
	}
	if (!reverse_domain_valid(nqn, 12, (size_t)(colon - nqn))) {
		return false;
	}
	p = (const unsigned char *)colon + 1;
	end = (const unsigned char *)nqn + len;
	while (p < end) {
		size_t n = utf8_char_len(p, end);

		if (n == 0) {
			return false;
		}
		p += n;
	}
	return true;
}

/* Printable ASCII as the spec wants in SN / MN. */
static bool ascii_printable(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s < 0x20 || *s > 0x7e) {
			return false;
		}
	}
	return true;
}

/*
 * Creation and destruction
 */

static int tgt_alloc_subsystem_id(struct spio_nvmf_tgt *tgt, uint32_t *id)
{
	for (uint32_t i = 0; i < tgt->opts.max_subsystems; i++) {
		if ((tgt->subsystem_ids[i / 64] & (1ull << (i % 64))) == 0) {
			tgt->subsystem_ids[i / 64] |= 1ull << (i % 64);
			*id = i;
			return 0;
		}
	}
	return -ENOSPC;
}

struct spio_nvmf_subsystem *nvmf_subsystem_alloc(struct spio_nvmf_tgt *tgt, const char *nqn,
						 enum spio_nvmf_subtype subtype, uint32_t max_nsid)
{
	struct spio_nvmf_subsystem *subsystem;
	uint32_t id;

	if (tgt_alloc_subsystem_id(tgt, &id) != 0) {
		errno = ENOSPC;
		return NULL;
	}
	subsystem = calloc(1, sizeof(*subsystem));
	if (subsystem == NULL) {
		tgt->subsystem_ids[id / 64] &= ~(1ull << (id % 64));
		errno = ENOMEM;
		return NULL;
	}
	if (max_nsid > 0) {
		subsystem->ns = calloc(max_nsid, sizeof(*subsystem->ns));
		if (subsystem->ns == NULL) {
			tgt->subsystem_ids[id / 64] &= ~(1ull << (id % 64));
			free(subsystem);
			errno = ENOMEM;
			return NULL;
		}
	}
	subsystem->tgt = tgt;
	subsystem->id = id;
	subsystem->subtype = subtype;
	snprintf(subsystem->nqn, sizeof(subsystem->nqn), "%s", nqn);
	snprintf(subsystem->sn, sizeof(subsystem->sn), "%s", SPIO_NVMF_DEFAULT_SN);
	snprintf(subsystem->mn, sizeof(subsystem->mn), "%s", SPIO_NVMF_DEFAULT_MN);
	subsystem->min_cntlid = SPIO_NVMF_MIN_CNTLID;
	subsystem->max_cntlid = SPIO_NVMF_MAX_CNTLID;
	subsystem->next_cntlid = SPIO_NVMF_MIN_CNTLID;
	subsystem->max_nsid = max_nsid;
	TAILQ_INIT(&subsystem->hosts);
	TAILQ_INIT(&subsystem->listeners);
	TAILQ_INIT(&subsystem->ctrlrs);
	TAILQ_INSERT_TAIL(&tgt->subsystems, subsystem, link);
	tgt->num_subsystems++;
	return subsystem;
}

void nvmf_subsystem_free(struct spio_nvmf_subsystem *subsystem)
{
	struct spio_nvmf_tgt *tgt = subsystem->tgt;
	struct spio_nvmf_subsystem_listener *sl;
	struct spio_nvmf_host *host;

	while ((sl = TAILQ_FIRST(&subsystem->listeners)) != NULL) {
		TAILQ_REMOVE(&subsystem->listeners, sl, link);
		nvmf_tgt_listener_put(tgt, sl->listener);
		free(sl);
	}
	while ((host = TAILQ_FIRST(&subsystem->hosts)) != NULL) {
		TAILQ_REMOVE(&subsystem->hosts, host, link);
		free(host);
	}
	TAILQ_REMOVE(&tgt->subsystems, subsystem, link);
	tgt->num_subsystems--;
	if (tgt->discovery == subsystem) {
		tgt->discovery = NULL;
	}
	tgt->subsystem_ids[subsystem->id / 64] &= ~(1ull << (subsystem->id % 64));
	free(subsystem->ns);
	free(subsystem);
}

struct spio_nvmf_subsystem *spio_nvmf_subsystem_create(struct spio_nvmf_tgt *tgt, const char *nqn,
						       uint32_t max_namespaces)
{
	struct spio_nvmf_subsystem *subsystem;

	if (tgt == NULL || nqn == NULL || tgt->state != NVMF_TGT_RUNNING) {
		errno = EINVAL;
		return NULL;
	}
	if (!spio_nvmf_nqn_is_valid(nqn) || strcmp(nqn, SPIO_NVMF_DISCOVERY_NQN) == 0) {
		SPIO_ERRLOG("nvmf: subsystem NQN '%s' is invalid\n", nqn);
		errno = EINVAL;
		return NULL;
	}
	if (spio_nvmf_tgt_find_subsystem(tgt, nqn) != NULL) {
		SPIO_ERRLOG("nvmf: subsystem NQN '%s' already exists\n", nqn);
		errno = EEXIST;
		return NULL;
	}
	if (tgt->num_subsystems >= tgt->opts.max_subsystems) {
		SPIO_ERRLOG("nvmf: subsystem %s: the target holds its %u subsystems already\n", nqn,
			    tgt->opts.max_subsystems);
		errno = ENOSPC;
		return NULL;
	}
	subsystem = nvmf_subsystem_alloc(tgt, nqn, SPIO_NVMF_SUBTYPE_NVME_SUBSYS,
					 max_namespaces == 0 ? SPIO_NVMF_DEFAULT_MAX_NAMESPACES
							     : max_namespaces);
	if (subsystem != NULL) {
		SPIO_DEBUGLOG(nvmf, "subsystem %s created (id %u)\n", nqn, subsystem->id);
	}
	return subsystem;
}

static void subsystem_destroy_done(struct spio_nvmf_subsystem *subsystem)
{
	struct spio_nvmf_tgt *tgt = subsystem->tgt;
	spio_nvmf_subsystem_cb cb = subsystem->destroy_cb;
	void *cb_arg = subsystem->destroy_cb_arg;
	bool had_listeners = !TAILQ_EMPTY(&subsystem->listeners);

	SPIO_DEBUGLOG(nvmf, "subsystem %s destroyed\n", subsystem->nqn);
	nvmf_subsystem_free(subsystem);
	if (had_listeners) {
		nvmf_tgt_discovery_changed(tgt);
	}
	/* A target destruction may be waiting for this one to end. */
	nvmf_tgt_destroy_continue(tgt);
	if (cb != NULL) {
		cb(cb_arg, 0);
	}
}

static void subsystem_destroy_ctrlrs_gone(void *arg)
{
	struct spio_nvmf_subsystem *subsystem = arg;

	nvmf_subsystem_remove_all_ns(subsystem, subsystem_destroy_done);
}

void nvmf_subsystem_ctrlr_gone(struct spio_nvmf_subsystem *subsystem)
{
	if (subsystem->op == NVMF_SUBSYS_OP_DESTROY && TAILQ_EMPTY(&subsystem->ctrlrs)) {
		subsystem_destroy_ctrlrs_gone(subsystem);
	}
}

int nvmf_subsystem_destroy(struct spio_nvmf_subsystem *subsystem, spio_nvmf_subsystem_cb cb,
			   void *cb_arg)
{
	struct nvmf_ctrlr *ctrlr, *next;

	if (subsystem->op != NVMF_SUBSYS_OP_NONE) {
		return -EBUSY;
	}
	subsystem->op = NVMF_SUBSYS_OP_DESTROY;
	subsystem->destroy_cb = cb;
	subsystem->destroy_cb_arg = cb_arg;
	if (TAILQ_EMPTY(&subsystem->ctrlrs)) {
		/* Never call back before returning. */
		nvmf_send(subsystem->tgt->thread, &subsystem->msg, subsystem_destroy_ctrlrs_gone,
			  subsystem);
		return 0;
	}
	for (ctrlr = TAILQ_FIRST(&subsystem->ctrlrs); ctrlr != NULL; ctrlr = next) {
		next = TAILQ_NEXT(ctrlr, link);
		nvmf_ctrlr_disconnect(ctrlr);
	}
	return 0;
}

int spio_nvmf_subsystem_destroy(struct spio_nvmf_subsystem *subsystem, spio_nvmf_subsystem_cb cb,
				void *cb_arg)
{
	if (subsystem == NULL) {
		return -EINVAL;
	}
	if (subsystem == subsystem->tgt->discovery) {
		return -EPERM;
	}
	return nvmf_subsystem_destroy(subsystem, cb, cb_arg);
}

void nvmf_subsystem_op_end(struct spio_nvmf_subsystem *subsystem)
{
	subsystem->op = NVMF_SUBSYS_OP_NONE;
	for (uint32_t i = 0; i < subsystem->max_nsid; i++) {
		struct spio_nvmf_ns *ns = subsystem->ns[i];

		if (ns != NULL && ns->hot_removed &&
		    spio_nvmf_subsystem_remove_ns(subsystem, ns->nsid, NULL, NULL) == 0) {
			return;
		}
	}
	nvmf_tgt_destroy_continue(subsystem->tgt);
}

/*
 * Lookup and iteration
 */

struct spio_nvmf_subsystem *spio_nvmf_tgt_find_subsystem(struct spio_nvmf_tgt *tgt, const char *nqn)
{
	struct spio_nvmf_subsystem *subsystem;

	if (tgt == NULL || nqn == NULL) {
		return NULL;
	}
	TAILQ_FOREACH (subsystem, &tgt->subsystems, link) {
		if (strcmp(subsystem->nqn, nqn) == 0) {
			return subsystem;
		}
	}
	return NULL;
}

struct spio_nvmf_subsystem *spio_nvmf_subsystem_get_first(struct spio_nvmf_tgt *tgt)
{
	return tgt != NULL ? TAILQ_FIRST(&tgt->subsystems) : NULL;
}

struct spio_nvmf_subsystem *spio_nvmf_subsystem_get_next(struct spio_nvmf_subsystem *subsystem)
{
	return subsystem != NULL ? TAILQ_NEXT(subsystem, link) : NULL;
}

const char *spio_nvmf_subsystem_get_nqn(const struct spio_nvmf_subsystem *subsystem)
{
	return subsystem->nqn;
}

enum spio_nvmf_subtype spio_nvmf_subsystem_get_type(const struct spio_nvmf_subsystem *subsystem)
{
	return subsystem->subtype;
}

struct spio_nvmf_tgt *spio_nvmf_subsystem_get_tgt(const struct spio_nvmf_subsystem *subsystem)
{
	return subsystem->tgt;
}

/*
 * Identity and limits
 */

int spio_nvmf_subsystem_set_sn(struct spio_nvmf_subsystem *subsystem, const char *sn)
{
	if (subsystem == NULL || sn == NULL || subsystem == subsystem->tgt->discovery ||
	    strlen(sn) > SPIO_NVME_CTRLR_SN_LEN || !ascii_printable(sn)) {
		return -EINVAL;
	}
	snprintf(subsystem->sn, sizeof(subsystem->sn), "%s", sn);
	return 0;
}

int spio_nvmf_subsystem_set_mn(struct spio_nvmf_subsystem *subsystem, const char *mn)
{
	if (subsystem == NULL || mn == NULL || subsystem == subsystem->tgt->discovery ||
	    strlen(mn) > SPIO_NVME_CTRLR_MN_LEN || !ascii_printable(mn)) {
		return -EINVAL;
	}
	snprintf(subsystem->mn, sizeof(subsystem->mn), "%s", mn);
	return 0;
}

const char *spio_nvmf_subsystem_get_sn(const struct spio_nvmf_subsystem *subsystem)
{
	return subsystem->sn;
}

const char *spio_nvmf_subsystem_get_mn(const struct spio_nvmf_subsystem *subsystem)
{
	return subsystem->mn;
}

int spio_nvmf_subsystem_set_cntlid_range(struct spio_nvmf_subsystem *subsystem, uint16_t min_cntlid,
					 uint16_t max_cntlid)
{
	if (subsystem == NULL || min_cntlid > max_cntlid || min_cntlid < SPIO_NVMF_MIN_CNTLID ||
	    max_cntlid > SPIO_NVMF_MAX_CNTLID) {
		return -EINVAL;
	}
	subsystem->min_cntlid = min_cntlid;
	subsystem->max_cntlid = max_cntlid;
	if (subsystem->next_cntlid < min_cntlid || subsystem->next_cntlid > max_cntlid) {
		subsystem->next_cntlid = min_cntlid;
	}
	return 0;
}

uint16_t spio_nvmf_subsystem_get_min_cntlid(const struct spio_nvmf_subsystem *subsystem)
{
	return subsystem->min_cntlid;
}

uint16_t spio_nvmf_subsystem_get_max_cntlid(const struct spio_nvmf_subsystem *subsystem)
{
	return subsystem->max_cntlid;
}

uint32_t spio_nvmf_subsystem_get_max_namespaces(const struct spio_nvmf_subsystem *subsystem)
{
	return subsystem->max_nsid;
}

struct nvmf_ctrlr *nvmf_subsystem_find_ctrlr(struct spio_nvmf_subsystem *subsystem, uint16_t cntlid)
{
	struct nvmf_ctrlr *ctrlr;

	TAILQ_FOREACH (ctrlr, &subsystem->ctrlrs, link) {
		if (ctrlr->cntlid == cntlid) {
			return ctrlr;
		}
	}
	return NULL;
}

uint16_t nvmf_subsystem_gen_cntlid(struct spio_nvmf_subsystem *subsystem)
{
	uint32_t range = (uint32_t)subsystem->max_cntlid - subsystem->min_cntlid + 1;

	/* Round the range once from where the last one was given, skipping those in use. */
	for (uint32_t i = 0; i < range; i++) {
		uint16_t cntlid = subsystem->next_cntlid;

		subsystem->next_cntlid =
		    cntlid >= subsystem->max_cntlid ? subsystem->min_cntlid : cntlid + 1;
		if (nvmf_subsystem_find_ctrlr(subsystem, cntlid) == NULL) {
			return cntlid;
		}
	}
	return SPIO_NVMF_CNTLID_DYNAMIC;
}

/*
 * Hosts
 */

static struct spio_nvmf_host *subsystem_find_host(const struct spio_nvmf_subsystem *subsystem,
						  const char *hostnqn)
{
	struct spio_nvmf_host *host;

	TAILQ_FOREACH (host, &subsystem->hosts, link) {
		if (strcmp(host->nqn, hostnqn) == 0) {
			return host;
		}
	}
	return NULL;
}

void spio_nvmf_subsystem_set_allow_any_host(struct spio_nvmf_subsystem *subsystem, bool allow)
{
	if (subsystem == NULL || subsystem->allow_any_host == allow) {
		return;
	}
	subsystem->allow_any_host = allow;
	if (!TAILQ_EMPTY(&subsystem->listeners)) {
		nvmf_tgt_discovery_changed(subsystem->tgt);
	}
}

bool spio_nvmf_subsystem_get_allow_any_host(const struct spio_nvmf_subsystem *subsystem)
{
	return subsystem->allow_any_host;
}

bool spio_nvmf_subsystem_host_allowed(const struct spio_nvmf_subsystem *subsystem,
				      const char *hostnqn)
{
	if (subsystem == NULL || hostnqn == NULL) {
		return false;
	}
	return subsystem->allow_any_host || subsystem_find_host(subsystem, hostnqn) != NULL;
}

int spio_nvmf_subsystem_add_host(struct spio_nvmf_subsystem *subsystem, const char *hostnqn)
{
	struct spio_nvmf_host *host;

	if (subsystem == NULL || hostnqn == NULL || !spio_nvmf_nqn_is_valid(hostnqn)) {
		return -EINVAL;
	}
	if (subsystem_find_host(subsystem, hostnqn) != NULL) {
		return -EEXIST;
	}
	host = calloc(1, sizeof(*host));
	if (host == NULL) {
		return -ENOMEM;
	}
	snprintf(host->nqn, sizeof(host->nqn), "%s", hostnqn);
	TAILQ_INSERT_TAIL(&subsystem->hosts, host, link);
	if (!TAILQ_EMPTY(&subsystem->listeners)) {
		nvmf_tgt_discovery_changed(subsystem->tgt);
	}
	return 0;
}

int spio_nvmf_subsystem_remove_host(struct spio_nvmf_subsystem *subsystem, const char *hostnqn)
{
	struct spio_nvmf_host *host;
	struct nvmf_ctrlr *ctrlr, *next;

	if (subsystem == NULL || hostnqn == NULL) {
		return -EINVAL;
	}
	host = subsystem_find_host(subsystem, hostnqn);
	if (host == NULL) {
		return -ENOENT;
	}
	TAILQ_REMOVE(&subsystem->hosts, host, link);
	free(host);
	if (!subsystem->allow_any_host) {
		for (ctrlr = TAILQ_FIRST(&subsystem->ctrlrs); ctrlr != NULL; ctrlr = next) {
			next = TAILQ_NEXT(ctrlr, link);
			if (strcmp(ctrlr->hostnqn, hostnqn) == 0) {
				SPIO_NOTICELOG("nvmf: subsystem %s: host %s removed, controller %u "
					       "disconnected\n",
					       subsystem->nqn, hostnqn, ctrlr->cntlid);
				nvmf_ctrlr_disconnect(ctrlr);
			}
		}
	}
	if (!TAILQ_EMPTY(&subsystem->listeners)) {
		nvmf_tgt_discovery_changed(subsystem->tgt);
	}
	return 0;
}

struct spio_nvmf_host *
spio_nvmf_subsystem_get_first_host(const struct spio_nvmf_subsystem *subsystem)
{
	return subsystem != NULL ? TAILQ_FIRST(&subsystem->hosts) : NULL;
}

struct spio_nvmf_host *
spio_nvmf_subsystem_get_next_host(const struct spio_nvmf_subsystem *subsystem,
				  const struct spio_nvmf_host *host)
{
	return host != NULL ? TAILQ_NEXT(host, link) : NULL;
}

const char *spio_nvmf_host_get_nqn(const struct spio_nvmf_host *host)
{
	return host->nqn;
}

/*
 * Listeners
 */

static struct spio_nvmf_subsystem_listener *
subsystem_find_listener(const struct spio_nvmf_subsystem *subsystem,
			const struct spio_nvme_transport_id *trid)
{
	struct spio_nvmf_subsystem_listener *sl;

	TAILQ_FOREACH (sl, &subsystem->listeners, link) {
		if (nvmf_trid_same_address(&sl->listener->trid, trid)) {
			return sl;
		}
	}
	return NULL;
}

bool nvmf_subsystem_listens_on(const struct spio_nvmf_subsystem *subsystem,
			       const struct spio_nvme_transport_id *trid)
{
	return subsystem_find_listener(subsystem, trid) != NULL;
}

int spio_nvmf_subsystem_add_listener(struct spio_nvmf_subsystem *subsystem,
				     const struct spio_nvme_transport_id *trid)
{
	struct spio_nvme_transport_id t;
	struct spio_nvmf_subsystem_listener *sl;
	int rc = 0;

	if (subsystem == NULL || trid == NULL || trid->traddr[0] == '\0' ||
	    trid->trsvcid[0] == '\0' ||
	    (trid->adrfam != 0 && trid->adrfam != SPIO_NVMF_ADRFAM_IPV4 &&
	     trid->adrfam != SPIO_NVMF_ADRFAM_IPV6) ||
	    subsystem->op == NVMF_SUBSYS_OP_DESTROY || subsystem->tgt->state != NVMF_TGT_RUNNING) {
		return -EINVAL;
	}
	t = *trid;
	if (t.adrfam == 0) {
		t.adrfam = SPIO_NVMF_ADRFAM_IPV4;
	}
	if (subsystem_find_listener(subsystem, &t) != NULL) {
		return -EEXIST;
	}
	sl = calloc(1, sizeof(*sl));
	if (sl == NULL) {
		return -ENOMEM;
	}
	sl->subsystem = subsystem;
	sl->listener = nvmf_tgt_listener_get(subsystem->tgt, &t, &rc);
	if (sl->listener == NULL) {
		free(sl);
		return rc;
	}
	TAILQ_INSERT_TAIL(&subsystem->listeners, sl, link);
	nvmf_tgt_discovery_changed(subsystem->tgt);
	return 0;
}

int spio_nvmf_subsystem_remove_listener(struct spio_nvmf_subsystem *subsystem,
					const struct spio_nvme_transport_id *trid)
{
	struct spio_nvmf_subsystem_listener *sl;
	struct nvmf_ctrlr *ctrlr, *next;

	if (subsystem == NULL || trid == NULL) {
		return -EINVAL;
	}
	sl = subsystem_find_listener(subsystem, trid);
	if (sl == NULL) {
		return -ENOENT;
	}
	for (ctrlr = TAILQ_FIRST(&subsystem->ctrlrs); ctrlr != NULL; ctrlr = next) {
		next = TAILQ_NEXT(ctrlr, link);
		if (nvmf_trid_same_address(&ctrlr->listen_trid, &sl->listener->trid)) {
			nvmf_ctrlr_disconnect(ctrlr);
		}
	}
	TAILQ_REMOVE(&subsystem->listeners, sl, link);
	nvmf_tgt_listener_put(subsystem->tgt, sl->listener);
	free(sl);
	nvmf_tgt_discovery_changed(subsystem->tgt);
	return 0;
}

struct spio_nvmf_subsystem_listener *
spio_nvmf_subsystem_get_first_listener(const struct spio_nvmf_subsystem *subsystem)
{
	return subsystem != NULL ? TAILQ_FIRST(&subsystem->listeners) : NULL;
}

struct spio_nvmf_subsystem_listener *
spio_nvmf_subsystem_get_next_listener(const struct spio_nvmf_subsystem *subsystem,
				      const struct spio_nvmf_subsystem_listener *listener)
{
	return listener != NULL ? TAILQ_NEXT(listener, link) : NULL;
}

const struct spio_nvme_transport_id *
spio_nvmf_subsystem_listener_get_trid(const struct spio_nvmf_subsystem_listener *listener)
{
	return &listener->listener->trid;
}

/*
 * Controllers
 */

uint32_t spio_nvmf_subsystem_get_ctrlrs(const struct spio_nvmf_subsystem *subsystem,
					struct spio_nvmf_ctrlr_info *infos, uint32_t max)
{
	const struct nvmf_ctrlr *ctrlr;
	uint32_t n = 0;

	if (subsystem == NULL) {
		return 0;
	}
	TAILQ_FOREACH (ctrlr, &subsystem->ctrlrs, link) {
		if (n < max && infos != NULL) {
			struct spio_nvmf_ctrlr_info *info = &infos[n];

			memset(info, 0, sizeof(*info));
			info->cntlid = ctrlr->cntlid;
			info->cntrltype = nvmf_ctrlr_is_discovery(ctrlr) ? "discovery" : "io";
			snprintf(info->hostnqn, sizeof(info->hostnqn), "%s", ctrlr->hostnqn);
			memcpy(&info->hostid, ctrlr->hostid, sizeof(info->hostid));
			info->num_io_qpairs = ctrlr->num_io_qpairs;
		}
		n++;
	}
	return n;
}
