/*
 * NVMe transport IDs: SPDK's "key:value ..." string form parsed into and
 * formatted from struct spio_nvme_transport_id, and the ordering SPDK uses to
 * tell controllers apart. No state: every function works on its arguments only.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "spio/log.h"
#include "spio/nvme.h"
#include "spio/util.h"

/* Characters that separate pairs. */
#define TRID_BLANKS " \t\n\r\v\f"

struct trid_name {
	const char *name;
	int value;
};

static const struct trid_name g_trtypes[] = {
    {"PCIe", SPIO_NVME_TRANSPORT_PCIE},		{"TCP", SPIO_NVME_TRANSPORT_TCP},
    {"RDMA", SPIO_NVME_TRANSPORT_RDMA},		{"FC", SPIO_NVME_TRANSPORT_FC},
    {"VFIOUSER", SPIO_NVME_TRANSPORT_VFIOUSER},
};

static const struct trid_name g_adrfams[] = {
    {"IPv4", SPIO_NVMF_ADRFAM_IPV4},
    {"IPv6", SPIO_NVMF_ADRFAM_IPV6},
    {"IB", SPIO_NVMF_ADRFAM_IB},
    {"FC", SPIO_NVMF_ADRFAM_FC},
    {"INTRA_HOST", SPIO_NVMF_ADRFAM_INTRA_HOST},
};

enum trid_kind {
	TRID_TRTYPE,
	TRID_ADRFAM,
	TRID_STRING,
	TRID_PRIORITY,
};

/* One key of the string form; the table order is the order format writes. */
struct trid_field {
	const char *key;
	enum trid_kind kind;
	size_t offset; /* of the char array (TRID_STRING) */
	size_t size;
};

/* Where a string field lives: its offset and size in the struct. */
#define TRID_STR(name)                                 \
	offsetof(struct spio_nvme_transport_id, name), \
	    sizeof(((struct spio_nvme_transport_id *)NULL)->name)

static const struct trid_field g_fields[] = {
    {"trtype", TRID_TRTYPE, 0, 0},
    {"adrfam", TRID_ADRFAM, 0, 0},
    {"traddr", TRID_STRING, TRID_STR(traddr)},
    {"trsvcid", TRID_STRING, TRID_STR(trsvcid)},
    {"subnqn", TRID_STRING, TRID_STR(subnqn)},
    {"hostnqn", TRID_STRING, TRID_STR(hostnqn)},
    {"hostaddr", TRID_STRING, TRID_STR(hostaddr)},
    {"hostsvcid", TRID_STRING, TRID_STR(hostsvcid)},
    {"priority", TRID_PRIORITY, 0, 0},
};

_Static_assert(SPIO_COUNTOF(g_fields) <= 32, "the seen-keys mask is 32 bits");

struct pci_addr {
	uint32_t domain;
	uint32_t bus;
	uint32_t dev;
	uint32_t func;
};

/* `s` of `len` bytes (not NUL-terminated) against the names, ignoring case. */
static const struct trid_name *name_find(const struct trid_name *names, size_t count, const char *s,
					 size_t len)
{
	for (size_t i = 0; i < count; i++) {
		if (strncasecmp(names[i].name, s, len) == 0 && names[i].name[len] == '\0') {
			return &names[i];
		}
	}
	return NULL;
}

static const char *name_of(const struct trid_name *names, size_t count, int value)
{
	for (size_t i = 0; i < count; i++) {
		if (names[i].value == value) {
			return names[i].name;
		}
	}
	return NULL;
}

/* Decimal digits only (no sign, no blanks), `min`..`max`. */
static bool decimal_parse(const char *s, size_t len, int64_t min, int64_t max, int64_t *out)
{
	int64_t v = 0;

	if (len == 0) {
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return false;
		}
		/* callers' max <= INT_MAX: checked each step, v * 10 stays far from overflow */
		v = v * 10 + (s[i] - '0');
		if (v > max) {
			return false;
		}
	}
	if (v < min) {
		return false;
	}
	*out = v;
	return true;
}

/* 1..max_digits hex digits; returns the end, or NULL if there are none or too many. */
static const char *hex_field(const char *s, unsigned max_digits, uint32_t *v)
{
	uint32_t x = 0;
	unsigned n = 0;

	while (isxdigit((unsigned char)s[n])) {
		if (n == max_digits) {
			return NULL;
		}
		x = x * 16 + (uint32_t)(isdigit((unsigned char)s[n])
					    ? s[n] - '0'
					    : tolower((unsigned char)s[n]) - 'a' + 10);
		n++;
	}
	if (n == 0) {
		return NULL;
	}
	*v = x;
	return s + n;
}

/*
 * "dddd:bb:dd.f" or "bb:dd.f" (domain 0). The domain may have up to 8 digits:
 * VMD puts devices in domains above 0xffff.
 */
static bool pci_addr_parse(const char *s, struct pci_addr *addr)
{
	const char *start = s, *first_end;
	uint32_t first;

	first_end = hex_field(start, 8, &first);
	if (first_end == NULL || *first_end != ':') {
		return false;
	}
	s = hex_field(first_end + 1, 2, &addr->bus);
	if (s == NULL) {
		return false;
	}
	if (*s == ':') {
		addr->domain = first;
		s = hex_field(s + 1, 2, &addr->dev);
		if (s == NULL) {
			return false;
		}
	} else {
		if (first_end - start > 2) { /* a bus has at most two digits */
			return false;
		}
		addr->domain = 0;
		addr->dev = addr->bus;
		addr->bus = first;
	}
	if (*s != '.') {
		return false;
	}
	s = hex_field(s + 1, 1, &addr->func);
	return s != NULL && *s == '\0' && addr->dev <= 0x1f && addr->func <= 7;
}

static int u32_cmp(uint32_t a, uint32_t b)
{
	return (a > b) - (a < b);
}

static int pci_addr_cmp(const struct pci_addr *a, const struct pci_addr *b)
{
	int cmp = u32_cmp(a->domain, b->domain);

	if (cmp == 0) {
		cmp = u32_cmp(a->bus, b->bus);
	}
	if (cmp == 0) {
		cmp = u32_cmp(a->dev, b->dev);
	}
	if (cmp == 0) {
		cmp = u32_cmp(a->func, b->func);
	}
	return cmp;
}

static int value_parse(struct spio_nvme_transport_id *trid, const struct trid_field *f,
		       const char *val, size_t len)
{
	const struct trid_name *name;
	char *dst;
	int64_t prio;

	switch (f->kind) {
	case TRID_TRTYPE:
		name = name_find(g_trtypes, SPIO_COUNTOF(g_trtypes), val, len);
		if (name == NULL) {
			SPIO_ERRLOG("nvme trid: unknown trtype '%.*s' (expected PCIe, TCP, RDMA, "
				    "FC or VFIOUSER)",
				    (int)len, val);
			return -EINVAL;
		}
		spio_nvme_transport_id_populate_trstring(
		    trid, (enum spio_nvme_transport_type)name->value);
		return 0;
	case TRID_ADRFAM:
		name = name_find(g_adrfams, SPIO_COUNTOF(g_adrfams), val, len);
		if (name == NULL) {
			SPIO_ERRLOG("nvme trid: unknown adrfam '%.*s' (expected IPv4, IPv6, IB, FC "
				    "or INTRA_HOST)",
				    (int)len, val);
			return -EINVAL;
		}
		trid->adrfam = name->value;
		return 0;
	case TRID_STRING:
		if (len >= f->size) {
			SPIO_ERRLOG("nvme trid: %s value too long (%zu > %zu bytes)", f->key, len,
				    f->size - 1);
			return -EINVAL;
		}
		dst = (char *)trid + f->offset;
		memcpy(dst, val, len);
		dst[len] = '\0';
		return 0;
	case TRID_PRIORITY:
		/* SPDK keeps it in an int and hands it to SO_PRIORITY. */
		if (!decimal_parse(val, len, 0, INT_MAX, &prio)) {
			SPIO_ERRLOG("nvme trid: bad priority '%.*s' (expected 0..%d)", (int)len,
				    val, INT_MAX);
			return -EINVAL;
		}
		trid->priority = (int)prio;
		return 0;
	}
	return -EINVAL;
}

/* One `key:value` / `key=value` token of `len` bytes; `seen` has a bit per key given. */
static int pair_parse(struct spio_nvme_transport_id *trid, uint32_t *seen, const char *pair,
		      size_t len)
{
	const struct trid_field *f = NULL;
	size_t key_len = 0;

	/* The first separator ends the key: values (PCI and IPv6 addresses, NQNs) hold ':'. */
	while (key_len < len && pair[key_len] != ':' && pair[key_len] != '=') {
		key_len++;
	}
	if (key_len == len) {
		SPIO_ERRLOG("nvme trid: '%.*s' has no ':' or '=' after the key", (int)len, pair);
		return -EINVAL;
	}
	for (size_t i = 0; i < SPIO_COUNTOF(g_fields); i++) {
		if (strncasecmp(g_fields[i].key, pair, key_len) == 0 &&
		    g_fields[i].key[key_len] == '\0') {
			f = &g_fields[i];
			break;
		}
	}
	if (f == NULL) {
		SPIO_ERRLOG("nvme trid: unknown key '%.*s' (in '%.*s')", (int)key_len, pair,
			    (int)len, pair);
		return -EINVAL;
	}
	if (key_len + 1 == len) {
		SPIO_ERRLOG("nvme trid: empty value for key '%s' (in '%.*s')", f->key, (int)len,
			    pair);
		return -EINVAL;
	}
	if (*seen & (1u << (f - g_fields))) {
		SPIO_ERRLOG("nvme trid: repeated key '%s' (in '%.*s')", f->key, (int)len, pair);
		return -EINVAL;
	}
	*seen |= 1u << (f - g_fields);
	return value_parse(trid, f, pair + key_len + 1, len - key_len - 1);
}

/* Checks that need the trtype, which may come after the field in the string. */
static int transport_check(struct spio_nvme_transport_id *trid)
{
	struct pci_addr addr;
	int64_t port;

	if (trid->trtype == SPIO_NVME_TRANSPORT_PCIE && trid->traddr[0] != '\0') {
		if (!pci_addr_parse(trid->traddr, &addr)) {
			SPIO_ERRLOG("nvme trid: bad PCI traddr '%s' (expected dddd:bb:dd.f or "
				    "bb:dd.f)",
				    trid->traddr);
			return -EINVAL;
		}
		/* Normalised, so equal addresses are equal strings. */
		snprintf(trid->traddr, sizeof(trid->traddr), "%04x:%02x:%02x.%x", addr.domain,
			 addr.bus, addr.dev, addr.func);
	}
	/* Stricter than SPDK, which hands any trsvcid to getaddrinfo() and fails at connect. */
	if (trid->trtype == SPIO_NVME_TRANSPORT_TCP && trid->trsvcid[0] != '\0' &&
	    !decimal_parse(trid->trsvcid, strlen(trid->trsvcid), 1, 65535, &port)) {
		SPIO_ERRLOG("nvme trid: bad TCP trsvcid '%s' (expected a port 1..65535)",
			    trid->trsvcid);
		return -EINVAL;
	}
	return 0;
}

int spio_nvme_transport_id_parse(struct spio_nvme_transport_id *trid, const char *str)
{
	struct spio_nvme_transport_id tmp;
	uint32_t seen = 0;
	const char *p;
	int rc;

	if (trid == NULL || str == NULL) {
		return -EINVAL;
	}
	memset(trid, 0, sizeof(*trid));
	memset(&tmp, 0, sizeof(tmp));

	/* Into a copy, so a failed parse leaves `trid` all zero rather than half set. */
	for (p = str + strspn(str, TRID_BLANKS); *p != '\0'; p += strspn(p, TRID_BLANKS)) {
		size_t len = strcspn(p, TRID_BLANKS);

		rc = pair_parse(&tmp, &seen, p, len);
		if (rc != 0) {
			return rc;
		}
		p += len;
	}
	if ((seen & 1u) == 0) { /* g_fields[0] is trtype */
		SPIO_ERRLOG("nvme trid: no trtype key (in '%s')", str);
		return -EINVAL;
	}
	rc = transport_check(&tmp);
	if (rc != 0) {
		return rc;
	}
	memcpy(trid, &tmp, sizeof(*trid));
	return 0;
}

int spio_nvme_transport_id_format(const struct spio_nvme_transport_id *trid, char *buf, size_t size)
{
	const char *trtype, *adrfam = NULL;
	size_t len = 0;

	if (trid == NULL || buf == NULL) {
		return -EINVAL;
	}
	/* A type or family parse cannot read back (CUSTOM too) is refused before buf is touched. */
	trtype = name_of(g_trtypes, SPIO_COUNTOF(g_trtypes), (int)trid->trtype);
	if (trtype == NULL) {
		return -EINVAL;
	}
	if (trid->adrfam != 0) {
		adrfam = spio_nvme_transport_id_adrfam_str(trid->adrfam);
		if (adrfam == NULL) {
			return -EINVAL;
		}
	}

	for (size_t i = 0; i < SPIO_COUNTOF(g_fields); i++) {
		const struct trid_field *f = &g_fields[i];
		char prio[16];
		const char *val = NULL;
		size_t val_len;
		int n;

		switch (f->kind) {
		case TRID_TRTYPE:
			val = trtype;
			break;
		case TRID_ADRFAM:
			val = adrfam;
			break;
		case TRID_STRING:
			val = (const char *)trid + f->offset;
			break;
		case TRID_PRIORITY:
			if (trid->priority != 0) {
				snprintf(prio, sizeof(prio), "%d", trid->priority);
				val = prio;
			}
			break;
		}
		if (val == NULL) {
			continue;
		}
		/* strnlen: a hand-filled field may lack its NUL. */
		val_len = f->kind == TRID_STRING ? strnlen(val, f->size) : strlen(val);
		if (val_len == 0) {
			continue;
		}
		/* Past the end, keep counting with size 0 to learn the full length. */
		n = snprintf(len < size ? buf + len : buf, len < size ? size - len : 0, "%s%s:%.*s",
			     len > 0 ? " " : "", f->key, (int)val_len, val);
		len += (size_t)n;
	}
	if (len >= size) {
		return -ENOSPC;
	}
	return (int)len;
}

int spio_nvme_transport_id_compare(const struct spio_nvme_transport_id *a,
				   const struct spio_nvme_transport_id *b)
{
	struct pci_addr pa, pb;
	bool a_pci, b_pci;
	int cmp;

	/* Not in the contract, but a total order with NULL first beats a crash. */
	if (a == NULL || b == NULL) {
		return (a != NULL) - (b != NULL);
	}
	cmp = u32_cmp((uint32_t)a->trtype, (uint32_t)b->trtype);
	if (cmp != 0) {
		return cmp;
	}
	if (a->trtype == SPIO_NVME_TRANSPORT_CUSTOM) {
		/* Custom transports are told apart by name only. */
		cmp = strcasecmp(a->trstring, b->trstring);
		if (cmp != 0) {
			return cmp;
		}
	}
	if (a->trtype == SPIO_NVME_TRANSPORT_PCIE) {
		/*
		 * A PCIe controller is its address alone, compared by value so the
		 * short and long forms match. Addresses that do not parse (filled
		 * in by hand) sort after all that do, among themselves by text.
		 */
		a_pci = pci_addr_parse(a->traddr, &pa);
		b_pci = pci_addr_parse(b->traddr, &pb);
		if (a_pci && b_pci) {
			return pci_addr_cmp(&pa, &pb);
		}
		if (a_pci != b_pci) {
			return a_pci ? -1 : 1;
		}
		return strcasecmp(a->traddr, b->traddr);
	}
	cmp = strcasecmp(a->traddr, b->traddr);
	if (cmp != 0) {
		return cmp;
	}
	cmp = strcmp(a->trsvcid, b->trsvcid);
	if (cmp != 0) {
		return cmp;
	}
	return strcmp(a->subnqn, b->subnqn);
}

int spio_nvme_transport_id_parse_trtype(enum spio_nvme_transport_type *trtype, const char *str)
{
	const struct trid_name *name;

	if (trtype == NULL || str == NULL) {
		return -EINVAL;
	}
	name = name_find(g_trtypes, SPIO_COUNTOF(g_trtypes), str, strlen(str));
	if (name == NULL) {
		return -EINVAL;
	}
	*trtype = (enum spio_nvme_transport_type)name->value;
	return 0;
}

const char *spio_nvme_transport_id_trtype_str(enum spio_nvme_transport_type trtype)
{
	/* A name SPDK reports but parse does not take: custom transports are not built here. */
	if (trtype == SPIO_NVME_TRANSPORT_CUSTOM) {
		return "CUSTOM";
	}
	return name_of(g_trtypes, SPIO_COUNTOF(g_trtypes), (int)trtype);
}

int spio_nvme_transport_id_parse_adrfam(int *adrfam, const char *str)
{
	const struct trid_name *name;

	if (adrfam == NULL || str == NULL) {
		return -EINVAL;
	}
	name = name_find(g_adrfams, SPIO_COUNTOF(g_adrfams), str, strlen(str));
	if (name == NULL) {
		return -EINVAL;
	}
	*adrfam = name->value;
	return 0;
}

const char *spio_nvme_transport_id_adrfam_str(int adrfam)
{
	return name_of(g_adrfams, SPIO_COUNTOF(g_adrfams), adrfam);
}

void spio_nvme_transport_id_populate_trstring(struct spio_nvme_transport_id *trid,
					      enum spio_nvme_transport_type trtype)
{
	const char *name;

	if (trid == NULL) {
		return;
	}
	name = spio_nvme_transport_id_trtype_str(trtype);
	trid->trtype = trtype;
	snprintf(trid->trstring, sizeof(trid->trstring), "%s", name != NULL ? name : "");
}
