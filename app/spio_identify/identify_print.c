/*
 * spio_identify: the report. Text output follows spdk_nvme_identify line for
 * line (section titles, labels, their column, value wording), so the two can
 * be compared with diff; JSON output carries the same fields, named in
 * snake_case (docs/nvme_tools.md has the schema).
 *
 * Every field goes through one emitter call that knows both forms: the text
 * label, padded to the section's column, and the JSON name and typed value.
 * A value SPDK prints as a word for "none" (Unlimited, N/A, Not Reported) is
 * null in JSON; flags are booleans; counts and sizes are numbers.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "spio/json.h"
#include "spio/util.h"

#include "identify.h"

struct out {
	bool json;
	struct spio_json_write_ctx *w;
	int width; /* text: column where values start */
};

/*
 * Emitters
 */

static void text_line(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A line of the text form only (titles, separators, blank lines). */
static void text_line(struct out *o, const char *fmt, ...)
{
	va_list ap;

	if (o->json) {
		return;
	}
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* A section: its title underlined with '=' in text, a named object in JSON. */
static void sec_begin(struct out *o, const char *title, const char *key, int width)
{
	size_t i, n = strlen(title);

	o->width = width;
	if (o->json) {
		spio_json_write_named_object_begin(o->w, key);
		return;
	}
	printf("%s\n", title);
	for (i = 0; i < n; i++) {
		putchar('=');
	}
	putchar('\n');
}

static void obj_end(struct out *o)
{
	if (o->json) {
		spio_json_write_object_end(o->w);
	}
}

/* A group of indented fields under a heading line ("Multi-path I/O"). */
static void grp_begin(struct out *o, const char *label, const char *key)
{
	if (o->json) {
		spio_json_write_named_object_begin(o->w, key);
	} else if (label != NULL) {
		printf("%s\n", label);
	}
}

static void arr_begin(struct out *o, const char *key)
{
	if (o->json) {
		spio_json_write_named_array_begin(o->w, key);
	}
}

static void arr_end(struct out *o)
{
	if (o->json) {
		spio_json_write_array_end(o->w);
	}
}

static void item_begin(struct out *o)
{
	if (o->json) {
		spio_json_write_object_begin(o->w);
	}
}

static void text_field(struct out *o, const char *label, const char *val)
{
	printf("%-*s%s\n", o->width, label, val);
}

/* A string value, the same in both forms. */
static void f_str(struct out *o, const char *label, const char *key, const char *val)
{
	if (o->json) {
		spio_json_write_named_string(o->w, key, val);
	} else {
		text_field(o, label, val);
	}
}

/* A number: `fmt` (one uint64_t) gives its text, e.g. "%" PRIu64 " ms". */
static void f_num(struct out *o, const char *label, const char *key, uint64_t v, const char *fmt)
    __attribute__((format(printf, 5, 0)));

static void f_num(struct out *o, const char *label, const char *key, uint64_t v, const char *fmt)
{
	char buf[64];

	if (o->json) {
		spio_json_write_named_uint64(o->w, key, v);
		return;
	}
	snprintf(buf, sizeof(buf), fmt, v);
	text_field(o, label, buf);
}

static void f_u(struct out *o, const char *label, const char *key, uint64_t v)
{
	f_num(o, label, key, v, "%" PRIu64);
}

/* A number that may be absent: the word in text, null in JSON. */
static void f_opt(struct out *o, const char *label, const char *key, bool present, uint64_t v,
		  const char *fmt, const char *absent) __attribute__((format(printf, 6, 0)));

static void f_opt(struct out *o, const char *label, const char *key, bool present, uint64_t v,
		  const char *fmt, const char *absent)
{
	if (present) {
		f_num(o, label, key, v, fmt);
	} else if (o->json) {
		spio_json_write_named_null(o->w, key);
	} else {
		text_field(o, label, absent);
	}
}

/* A flag: one of two words in text, a boolean in JSON. */
static void f_flag(struct out *o, const char *label, const char *key, bool v, const char *yes,
		   const char *no)
{
	if (o->json) {
		spio_json_write_named_bool(o->w, key, v);
	} else {
		text_field(o, label, v ? yes : no);
	}
}

static void f_sup(struct out *o, const char *label, const char *key, bool v)
{
	f_flag(o, label, key, v, "Supported", "Not Supported");
}

static void f_yes(struct out *o, const char *label, const char *key, bool v)
{
	f_flag(o, label, key, v, "Yes", "No");
}

/*
 * Value formatting
 */

/* An NVMe ASCII field: trailing spaces cut, anything unprintable as '.'. */
static void ascii_field(char *out, const void *buf, size_t size)
{
	const uint8_t *s = buf;
	size_t i;

	while (size > 0 && s[size - 1] == ' ') {
		size--;
	}
	for (i = 0; i < size; i++) {
		out[i] = s[i] >= 0x20 && s[i] <= 0x7e ? (char)s[i] : '.';
	}
	out[size] = '\0';
}

static void hex_upper(char *out, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		sprintf(out + 2 * i, "%02X", p[i]);
	}
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		if (b[i] != 0) {
			return false;
		}
	}
	return true;
}

static void version_str(char *out, size_t size, union spio_nvme_vs_register v)
{
	int n = snprintf(out, size, "%u.%u", v.bits.mjr, v.bits.mnr);

	if (v.bits.ter != 0 && n > 0 && (size_t)n < size) {
		snprintf(out + n, size - (size_t)n, ".%u", v.bits.ter);
	}
}

/* A 128-bit counter: decimal when it fits 64 bits, else hex (as SPDK does). */
static void f_u128(struct out *o, const char *label, const char *key, const uint64_t v[2],
		   const char *unit)
{
	char buf[64];

	if (v[1] != 0) {
		snprintf(buf, sizeof(buf), "0x%" PRIX64 "%016" PRIX64 "%s", v[1], v[0], unit);
	} else {
		snprintf(buf, sizeof(buf), "%" PRIu64 "%s", v[0], unit);
	}
	if (!o->json) {
		text_field(o, label, buf);
	} else if (v[1] != 0) {
		/* beyond a JSON-safe number: the hex string */
		spio_json_write_named_string_fmt(o->w, key, "0x%" PRIX64 "%016" PRIX64, v[1], v[0]);
	} else {
		spio_json_write_named_uint64(o->w, key, v[0]);
	}
}

/* -x: a page in hex and ASCII, 16 bytes a line. */
static void hex_dump(const struct out *o, const void *data, size_t size)
{
	const uint8_t *b = data;
	size_t off, i;

	if (o->json) {
		return;
	}
	for (off = 0; off < size; off += 16) {
		printf("%08zX:", off);
		for (i = 0; i < 16; i++) {
			putchar(i == 8 ? '-' : ' ');
			if (off + i < size) {
				printf("%02X", b[off + i]);
			} else {
				printf("  ");
			}
		}
		printf("  ");
		for (i = 0; i < 16 && off + i < size; i++) {
			putchar(b[off + i] > 0x20 && b[off + i] < 0x7f ? b[off + i] : '.');
		}
		putchar('\n');
	}
	putchar('\n');
}

/*
 * Namespace identification descriptors
 */

/* The descriptor of type `nidt` and length `len` in the namespace's list, or NULL. */
static const uint8_t *ns_find_desc(const struct id_ns *ns, uint8_t nidt, uint8_t len)
{
	size_t off = 0;

	while (ns->have_desc && off + sizeof(struct spio_nvme_ns_id_desc) <= sizeof(ns->desc)) {
		const struct spio_nvme_ns_id_desc *d = (const void *)(ns->desc + off);
		size_t next = off + sizeof(*d) + d->nidl;

		if (d->nidl == 0 || next > sizeof(ns->desc)) {
			break;
		}
		if (d->nidt == nidt) {
			return d->nidl == len ? d->nid : NULL;
		}
		off = next;
	}
	return NULL;
}

uint8_t id_ns_csi(const struct id_ns *ns)
{
	const uint8_t *csi = ns_find_desc(ns, SPIO_NVME_NIDT_CSI, SPIO_NVME_NIDT_CSI_LEN);

	return csi != NULL ? *csi : SPIO_NVME_CSI_NVM;
}

static const uint8_t *ns_uuid(const struct id_ns *ns)
{
	if (ns->have_uuid) {
		return ns->uuid;
	}
	return ns_find_desc(ns, SPIO_NVME_NIDT_UUID, SPIO_NVME_NIDT_UUID_LEN);
}

/*
 * Controller sections
 */

static void print_banner(struct out *o, const struct id_info *info)
{
	if (o->json) {
		spio_json_write_named_string(o->w, "controller", info->name);
		spio_json_write_named_bool(o->w, "live", info->live);
		spio_json_write_named_bool(o->w, "discovery", info->discovery);
		return;
	}
	printf("=====================================================\n");
	if (info->live) {
		printf("NVMe%s Controller at %s\n", info->fabrics ? "oF" : "", info->name);
	} else {
		printf("Saved identify data from %s\n", info->name);
	}
	printf("=====================================================\n");
}

static void print_oaes(struct out *o, uint32_t oaes)
{
	grp_begin(o, "Optional Asynchronous Events Supported", "optional_async_events");
	f_sup(o, "  Namespace Attribute Notices:", "namespace_attribute_notices",
	      oaes & SPIO_NVME_OAES_NS_ATTRIBUTE_NOTICES);
	f_sup(o, "  Firmware Activation Notices:", "firmware_activation_notices",
	      oaes & SPIO_NVME_OAES_FW_ACTIVATION_NOTICES);
	f_sup(o, "  ANA Change Notices:", "ana_change_notices",
	      oaes & SPIO_NVME_OAES_ANA_CHANGE_NOTICES);
	f_sup(o, "  PLE Aggregate Log Change Notices:", "ple_aggregate_log_change_notices",
	      oaes & SPIO_NVME_OAES_PLEAL_CHANGE_NOTICES);
	f_sup(o, "  LBA Status Info Alert Notices:", "lba_status_info_alert_notices",
	      oaes & SPIO_NVME_OAES_LBA_SIA_NOTICES);
	f_sup(o, "  EGE Aggregate Log Change Notices:", "ege_aggregate_log_change_notices",
	      oaes & SPIO_NVME_OAES_EGEAL_CHANGE_NOTICES);
	f_sup(o, "  Normal NVM Subsystem Shutdown event:", "normal_nvm_subsystem_shutdown_event",
	      oaes & SPIO_NVME_OAES_NORMAL_NVM_SHUTDOWN);
	/* bit 27, from the ZNS command set specification */
	f_sup(o, "  Zone Descriptor Change Notices:", "zone_descriptor_change_notices",
	      oaes & (1u << 27));
	f_sup(o, "  Discovery Log Change Notices:", "discovery_log_change_notices",
	      oaes & SPIO_NVME_OAES_DISCOVERY_LOG_CHANGE_NOTICES);
	obj_end(o);
}

static void print_ctratt(struct out *o, uint32_t ctratt)
{
	grp_begin(o, "Controller Attributes", "controller_attributes");
	f_sup(o, "  128-bit Host Identifier:", "host_identifier_128_bit",
	      ctratt & SPIO_NVME_CTRATT_HOST_ID_128);
	f_sup(o, "  Non-Operational Permissive Mode:", "non_operational_permissive_mode",
	      ctratt & SPIO_NVME_CTRATT_NOPSPM);
	f_sup(o, "  NVM Sets:", "nvm_sets", ctratt & SPIO_NVME_CTRATT_NVM_SETS);
	f_sup(o, "  Read Recovery Levels:", "read_recovery_levels",
	      ctratt & SPIO_NVME_CTRATT_READ_RECOVERY_LEVELS);
	f_sup(o, "  Endurance Groups:", "endurance_groups",
	      ctratt & SPIO_NVME_CTRATT_ENDURANCE_GROUPS);
	f_sup(o, "  Predictable Latency Mode:", "predictable_latency_mode",
	      ctratt & SPIO_NVME_CTRATT_PREDICTABLE_LATENCY);
	/* SPDK's spelling of the label */
	f_sup(o, "  Traffic Based Keep ALive:", "traffic_based_keep_alive",
	      ctratt & SPIO_NVME_CTRATT_TBKAS);
	f_sup(o, "  Namespace Granularity:", "namespace_granularity",
	      ctratt & SPIO_NVME_CTRATT_NS_GRANULARITY);
	f_sup(o, "  SQ Associations:", "sq_associations",
	      ctratt & SPIO_NVME_CTRATT_SQ_ASSOCIATIONS);
	f_sup(o, "  UUID List:", "uuid_list", ctratt & SPIO_NVME_CTRATT_UUID_LIST);
	f_sup(o, "  Multi-Domain Subsystem:", "multi_domain_subsystem",
	      ctratt & SPIO_NVME_CTRATT_MULTI_DOMAIN);
	f_sup(o, "  Fixed Capacity Management:", "fixed_capacity_management",
	      ctratt & SPIO_NVME_CTRATT_FIXED_CAPACITY);
	f_sup(o, "  Variable Capacity Management:", "variable_capacity_management",
	      ctratt & SPIO_NVME_CTRATT_VARIABLE_CAPACITY);
	f_sup(o, "  Delete Endurance Group:", "delete_endurance_group",
	      ctratt & SPIO_NVME_CTRATT_DELETE_ENDURANCE_GROUP);
	f_sup(o, "  Delete NVM Set:", "delete_nvm_set", ctratt & SPIO_NVME_CTRATT_DELETE_NVM_SET);
	f_sup(o, "  Extended LBA Formats Supported:", "extended_lba_formats",
	      ctratt & SPIO_NVME_CTRATT_EXTENDED_LBA_FORMATS);
	/* bit 19, FDPS (NVMe 2.0 TP4146) */
	f_sup(o, "  Flexible Data Placement Supported:", "flexible_data_placement",
	      ctratt & (1u << 19));
	obj_end(o);
}

static void print_caps(struct out *o, const struct id_info *info)
{
	const struct spio_nvme_ctrlr_data *cd = &info->cdata;
	union spio_nvme_cap_register cap = info->cap;
	bool hc = info->have_cap;
	char buf[64];

	sec_begin(o, "Controller Capabilities/Features", "capabilities", 39);
	f_num(o, "Vendor ID:", "vendor_id", cd->vid, "%04" PRIx64);
	f_num(o, "Subsystem Vendor ID:", "subsystem_vendor_id", cd->ssvid, "%04" PRIx64);
	ascii_field(buf, cd->sn, sizeof(cd->sn));
	f_str(o, "Serial Number:", "serial_number", buf);
	ascii_field(buf, cd->mn, sizeof(cd->mn));
	f_str(o, "Model Number:", "model_number", buf);
	ascii_field(buf, cd->fr, sizeof(cd->fr));
	f_str(o, "Firmware Version:", "firmware_version", buf);
	f_u(o, "Recommended Arb Burst:", "recommended_arb_burst", cd->rab);
	snprintf(buf, sizeof(buf), "%02x %02x %02x", cd->ieee[0], cd->ieee[1], cd->ieee[2]);
	f_str(o, "IEEE OUI Identifier:", "ieee_oui", buf);
	grp_begin(o, "Multi-path I/O", "multipath_io");
	f_yes(o, "  May have multiple subsystem ports:", "multiple_ports", cd->cmic.multi_port);
	f_yes(o, "  May have multiple controllers:", "multiple_controllers", cd->cmic.multi_ctrlr);
	f_yes(o, "  Associated with SR-IOV VF:", "sr_iov_vf", cd->cmic.sr_iov);
	obj_end(o);
	/* without CAP (saved pages) the minimum page size is taken as 4 KiB */
	f_opt(o, "Max Data Transfer Size:", "max_data_transfer_size", cd->mdts != 0,
	      cd->mdts != 0 ? 1ull << (12 + cap.bits.mpsmin + cd->mdts) : 0, "%" PRIu64,
	      "Unlimited");
	f_u(o, "Max Number of Namespaces:", "max_namespaces", cd->nn);
	f_opt(o, "Max Number of I/O Queues:", "max_io_queues", info->have_num_io_queues,
	      info->num_io_queues, "%" PRIu64, "N/A");
	if (info->have_vs) {
		version_str(buf, sizeof(buf), info->vs);
		f_str(o, "NVMe Specification Version (VS):", "version_vs", buf);
	} else {
		f_opt(o, "NVMe Specification Version (VS):", "version_vs", false, 0, "%" PRIu64,
		      "N/A");
	}
	if (cd->ver.raw != 0) {
		version_str(buf, sizeof(buf), cd->ver);
		f_str(o, "NVMe Specification Version (Identify):", "version_identify", buf);
	}
	f_opt(o, "Maximum Queue Entries:", "max_queue_entries", hc, cap.bits.mqes + 1ull,
	      "%" PRIu64, "N/A");
	f_yes(o, "Contiguous Queues Required:", "contiguous_queues_required", cap.bits.cqr);
	grp_begin(o, "Arbitration Mechanisms Supported", "arbitration_mechanisms");
	f_sup(o, "  Weighted Round Robin:", "weighted_round_robin",
	      cap.bits.ams & SPIO_NVME_CAP_AMS_WRR);
	f_sup(o, "  Vendor Specific:", "vendor_specific", cap.bits.ams & SPIO_NVME_CAP_AMS_VS);
	obj_end(o);
	f_opt(o, "Reset Timeout:", "reset_timeout_ms", hc, 500ull * cap.bits.to, "%" PRIu64 " ms",
	      "N/A");
	f_opt(o, "Doorbell Stride:", "doorbell_stride_bytes", hc, 1ull << (2 + cap.bits.dstrd),
	      "%" PRIu64 " bytes", "N/A");
	f_sup(o, "NVM Subsystem Reset:", "nvm_subsystem_reset", cap.bits.nssrs);
	grp_begin(o, "Command Sets Supported", "command_sets");
	f_sup(o, "  NVM Command Set:", "nvm", cap.bits.css & SPIO_NVME_CAP_CSS_NVM);
	obj_end(o);
	f_sup(o, "Boot Partition:", "boot_partition", cap.bits.bps);
	f_opt(o, "Memory Page Size Minimum:", "memory_page_size_min", hc,
	      1ull << (12 + cap.bits.mpsmin), "%" PRIu64 " bytes", "N/A");
	f_opt(o, "Memory Page Size Maximum:", "memory_page_size_max", hc,
	      1ull << (12 + cap.bits.mpsmax), "%" PRIu64 " bytes", "N/A");
	f_sup(o, "Persistent Memory Region:", "persistent_memory_region", cap.bits.pmrs);
	print_oaes(o, cd->oaes);
	print_ctratt(o, cd->ctratt);
	obj_end(o);
	text_line(o, "%s", "");
}

/*
 * CMB and PMR: their size and capability registers (CMBSZ, PMRCAP) exist on
 * PCIe only and nvme.h has no reader for them, so their fields read N/A.
 */
static void print_cmb_pmr(struct out *o, const struct id_info *info)
{
	sec_begin(o, "Controller Memory Buffer Support", "controller_memory_buffer", 39);
	f_yes(o, "Supported:", "supported", info->cap.bits.cmbs);
	if (info->cap.bits.cmbs) {
		f_opt(o, "Total Size:", "total_size_bytes", false, 0, "%" PRIu64, "N/A");
		f_opt(o, "Submission Queues in CMB:", "submission_queues", false, 0, "%" PRIu64,
		      "N/A");
		f_opt(o, "Completion Queues in CMB:", "completion_queues", false, 0, "%" PRIu64,
		      "N/A");
		f_opt(o, "Read data and metadata in CMB", "read_data", false, 0, "%" PRIu64, "N/A");
		f_opt(o, "Write data and metadata in CMB:", "write_data", false, 0, "%" PRIu64,
		      "N/A");
	}
	obj_end(o);
	text_line(o, "%s", "");

	sec_begin(o, "Persistent Memory Region Support", "persistent_memory_region", 39);
	f_yes(o, "Supported:", "supported", info->cap.bits.pmrs);
	if (info->cap.bits.pmrs) {
		f_opt(o, "Total Size:", "total_size_bytes", false, 0, "%" PRIu64, "N/A");
		f_opt(o, "Read data and metadata in PMR", "read_data", false, 0, "%" PRIu64, "N/A");
		f_opt(o, "Write data and metadata in PMR:", "write_data", false, 0, "%" PRIu64,
		      "N/A");
	}
	obj_end(o);
	text_line(o, "%s", "");
}

static void print_ana_caps(struct out *o, const struct spio_nvme_ctrlr_data *cd)
{
	const char *s = "Supported", *n = "Not Supported";

	if (o->json) {
		spio_json_write_named_uint32(o->w, "ana_transition_time_s", cd->anatt);
		spio_json_write_named_object_begin(o->w, "ana_capabilities");
		spio_json_write_named_bool(o->w, "optimized", cd->anacap.optimized);
		spio_json_write_named_bool(o->w, "non_optimized", cd->anacap.non_optimized);
		spio_json_write_named_bool(o->w, "inaccessible", cd->anacap.inaccessible);
		spio_json_write_named_bool(o->w, "persistent_loss", cd->anacap.persistent_loss);
		spio_json_write_named_bool(o->w, "change", cd->anacap.change);
		spio_json_write_named_bool(o->w, "anagrpid_not_changed",
					   cd->anacap.no_change_anagrpid);
		spio_json_write_named_bool(o->w, "non_zero_anagrpid", cd->anacap.non_zero_anagrpid);
		spio_json_write_object_end(o->w);
		spio_json_write_named_uint32(o->w, "ana_group_id_max", cd->anagrpmax);
		spio_json_write_named_uint32(o->w, "ana_group_ids", cd->nanagrpid);
		spio_json_write_named_uint32(o->w, "max_allowed_namespaces", cd->mnan);
		return;
	}
	/* SPDK lays this block out on its own: label, padding, then ": " */
	printf("ANA Transition Time                 :  %u sec\n\n", cd->anatt);
	printf("Asymmetric Namespace Access Capabilities\n");
	printf("  ANA Optimized State               : %s\n", cd->anacap.optimized ? s : n);
	printf("  ANA Non-Optimized State           : %s\n", cd->anacap.non_optimized ? s : n);
	printf("  ANA Inaccessible State            : %s\n", cd->anacap.inaccessible ? s : n);
	printf("  ANA Persistent Loss State         : %s\n", cd->anacap.persistent_loss ? s : n);
	printf("  ANA Change State                  : %s\n", cd->anacap.change ? s : n);
	printf("  ANAGRPID is not changed           : %s\n",
	       cd->anacap.no_change_anagrpid ? "Yes" : "No");
	printf("  Non-Zero ANAGRPID for NS Mgmt Cmd : %s\n\n",
	       cd->anacap.non_zero_anagrpid ? s : n);
	printf("ANA Group Identifier Maximum        : %u\n", cd->anagrpmax);
	printf("Number of ANA Group Identifiers     : %u\n", cd->nanagrpid);
	printf("Max Number of Allowed Namespaces    : %u\n", cd->mnan);
}

static void print_admin_attrs(struct out *o, const struct spio_nvme_ctrlr_data *cd)
{
	bool fw = cd->oacs.firmware;

	sec_begin(o, "Admin Command Set Attributes", "admin_command_set", 39);
	f_sup(o, "Security Send/Receive:", "security_send_receive", cd->oacs.security);
	f_sup(o, "Format NVM:", "format_nvm", cd->oacs.format);
	f_sup(o, "Firmware Activate/Download:", "firmware_activate_download", fw);
	f_sup(o, "Namespace Management:", "namespace_management", cd->oacs.ns_manage);
	f_sup(o, "Device Self-Test:", "device_self_test", cd->oacs.device_self_test);
	f_sup(o, "Directives:", "directives", cd->oacs.directives);
	f_sup(o, "NVMe-MI:", "nvme_mi", cd->oacs.nvme_mi);
	f_sup(o, "Virtualization Management:", "virtualization_management",
	      cd->oacs.virtualization_management);
	f_sup(o, "Doorbell Buffer Config:", "doorbell_buffer_config",
	      cd->oacs.doorbell_buffer_config);
	f_sup(o, "Get LBA Status Capability:", "get_lba_status", cd->oacs.get_lba_status);
	f_sup(o, "Command & Feature Lockdown Capability:", "command_feature_lockdown",
	      cd->oacs.command_feature_lockdown);
	f_u(o, "Abort Command Limit:", "abort_command_limit", cd->acl + 1u);
	f_u(o, "Async Event Request Limit:", "async_event_request_limit", cd->aerl + 1u);
	/* the firmware fields mean nothing without the firmware commands */
	f_opt(o, "Number of Firmware Slots:", "firmware_slots", fw, cd->frmw.num_slots, "%" PRIu64,
	      "N/A");
	if (fw) {
		f_yes(o, "Firmware Slot 1 Read-Only:", "firmware_slot1_read_only",
		      cd->frmw.slot1_ro);
		f_yes(o, "Firmware Activation Without Reset:", "firmware_activation_without_reset",
		      cd->frmw.activation_without_reset);
		f_yes(o, "Multiple Update Detection Support:", "multiple_update_detection",
		      cd->frmw.multiple_update_detection);
	} else {
		f_opt(o, "Firmware Slot 1 Read-Only:", "firmware_slot1_read_only", false, 0,
		      "%" PRIu64, "N/A");
		f_opt(o, "Firmware Activation Without Reset:", "firmware_activation_without_reset",
		      false, 0, "%" PRIu64, "N/A");
		f_opt(o, "Multiple Update Detection Support:", "multiple_update_detection", false,
		      0, "%" PRIu64, "N/A");
	}
	if (cd->fwug == 0x00) {
		f_opt(o, "Firmware Update Granularity:", "firmware_update_granularity_kib", false,
		      0, "%" PRIu64, "No Information Provided");
	} else if (cd->fwug == 0xff) {
		/* JSON: 0, any granularity */
		if (o->json) {
			spio_json_write_named_uint32(o->w, "firmware_update_granularity_kib", 0);
		} else {
			text_field(o, "Firmware Update Granularity:", "No Restriction");
		}
	} else {
		f_num(o, "Firmware Update Granularity:", "firmware_update_granularity_kib",
		      cd->fwug * 4ull, "%" PRIu64 " KiB");
	}
	f_yes(o, "Per-Namespace SMART Log:", "per_namespace_smart_log", cd->lpa.ns_smart);
	f_sup(o, "Asymmetric Namespace Access Log Page:", "ana_log_page", cd->cmic.ana_reporting);
	if (cd->cmic.ana_reporting) {
		print_ana_caps(o, cd);
	}
	f_str(o, "Subsystem NQN:", "subnqn",
	      strnlen(cd->subnqn, sizeof(cd->subnqn)) < sizeof(cd->subnqn) ? cd->subnqn : "");
	f_sup(o, "Command Effects Log Page:", "command_effects_log_page", cd->lpa.celp);
	f_sup(o, "Get Log Page Extended Data:", "get_log_page_extended_data", cd->lpa.edlp);
	f_sup(o, "Telemetry Log Pages:", "telemetry_log_pages", cd->lpa.telemetry);
	f_sup(o, "Persistent Event Log Pages:", "persistent_event_log_pages", cd->lpa.pelp);
	/* LPA.MLPS says all four are there; without it they may be */
	f_flag(o, "Supported Log Pages Log Page:", "supported_log_pages_log_page", cd->lpa.mlps,
	       "Supported", "May Support");
	f_sup(o, "Commands Supported & Effects Log Page:", "commands_supported_effects_log_page",
	      cd->lpa.mlps);
	f_flag(o, "Feature Identifiers & Effects Log Page:", "feature_identifiers_effects_log_page",
	       cd->lpa.mlps, "Supported", "May Support");
	f_flag(o, "NVMe-MI Commands & Effects Log Page:", "nvme_mi_effects_log_page", cd->lpa.mlps,
	       "Supported", "May Support");
	f_sup(o, "Data Area 4 for Telemetry Log:", "telemetry_data_area_4", cd->lpa.da4);
	f_u(o, "Error Log Page Entries Supported:", "error_log_page_entries", cd->elpe + 1u);
	f_sup(o, "Keep Alive:", "keep_alive", cd->kas != 0);
	if (cd->kas != 0) {
		f_num(o, "Keep Alive Granularity:", "keep_alive_granularity_ms", cd->kas * 100ull,
		      "%" PRIu64 " ms");
	}
	obj_end(o);
	text_line(o, "%s", "");
}

static const char *sgl_support(uint32_t sgls)
{
	switch (sgls & SPIO_NVME_SGLS_SUPPORT_MASK) {
	case SPIO_NVME_SGLS_SUPPORTED:
		return "Supported";
	case SPIO_NVME_SGLS_DWORD_ALIGNED:
		return "Supported (Dword aligned)";
	default:
		return "Not Supported";
	}
}

static void print_nvm_attrs(struct out *o, const struct spio_nvme_ctrlr_data *cd)
{
	uint16_t crdt[3] = {cd->crdt1, cd->crdt2, cd->crdt3};
	char label[64];
	int i;

	sec_begin(o, "NVM Command Set Attributes", "nvm_command_set", 29);
	grp_begin(o, "Submission Queue Entry Size", "sq_entry_size");
	f_u(o, "  Max:", "max", 1u << (cd->sqes >> 4));
	f_u(o, "  Min:", "min", 1u << (cd->sqes & 0xf));
	obj_end(o);
	grp_begin(o, "Completion Queue Entry Size", "cq_entry_size");
	f_u(o, "  Max:", "max", 1u << (cd->cqes >> 4));
	f_u(o, "  Min:", "min", 1u << (cd->cqes & 0xf));
	obj_end(o);
	f_u(o, "Number of Namespaces:", "namespaces", cd->nn);
	f_sup(o, "Compare Command:", "compare", cd->oncs.compare);
	f_sup(o, "Write Uncorrectable Command:", "write_uncorrectable", cd->oncs.write_unc);
	f_sup(o, "Dataset Management Command:", "dataset_management", cd->oncs.dsm);
	f_sup(o, "Write Zeroes Command:", "write_zeroes", cd->oncs.write_zeroes);
	f_sup(o, "Set Features Save Field:", "set_features_save", cd->oncs.set_features_save);
	f_sup(o, "Reservations:", "reservations", cd->oncs.reservations);
	f_sup(o, "Timestamp:", "timestamp", cd->oncs.timestamp);
	f_sup(o, "Copy:", "copy", cd->oncs.copy);
	f_flag(o, "Volatile Write Cache:", "volatile_write_cache", cd->vwc.present, "Present",
	       "Not Present");
	f_u(o, "Atomic Write Unit (Normal):", "atomic_write_unit_normal", cd->awun + 1u);
	f_u(o, "Atomic Write Unit (PFail):", "atomic_write_unit_power_fail", cd->awupf + 1u);
	f_u(o, "Atomic Compare & Write Unit:", "atomic_compare_write_unit", cd->acwu + 1u);
	f_sup(o, "Fused Compare & Write:", "fused_compare_write", cd->fuses.compare_and_write);
	grp_begin(o, "Scatter-Gather List", "sgl");
	f_str(o, "  SGL Command Set:", "command_set", sgl_support(cd->sgls));
	f_sup(o, "  SGL Keyed:", "keyed", cd->sgls & SPIO_NVME_SGLS_KEYED);
	f_sup(o, "  SGL Bit Bucket Descriptor:", "bit_bucket",
	      cd->sgls & SPIO_NVME_SGLS_BIT_BUCKET);
	f_sup(o, "  SGL Metadata Pointer:", "metadata_pointer",
	      cd->sgls & SPIO_NVME_SGLS_METADATA_BYTE_ALIGNED);
	f_sup(o, "  Oversized SGL:", "oversized", cd->sgls & SPIO_NVME_SGLS_OVERSIZED);
	f_sup(o, "  SGL Metadata Address:", "metadata_address", cd->sgls & SPIO_NVME_SGLS_MPTR_SGL);
	f_sup(o, "  SGL Offset:", "offset", cd->sgls & SPIO_NVME_SGLS_OFFSET);
	f_sup(o, "  Transport SGL Data Block:", "transport_data_block",
	      cd->sgls & SPIO_NVME_SGLS_TRANSPORT);
	obj_end(o);
	/* SPDK prints this label one column past the section's */
	if (!o->json) {
		printf("Replay Protected Memory Block:  %s\n",
		       cd->rpmbs.num_rpmb_units > 0 ? "Supported" : "Not Supported");
	}
	grp_begin(o, NULL, "rpmb");
	if (o->json) {
		spio_json_write_named_bool(o->w, "supported", cd->rpmbs.num_rpmb_units > 0);
	}
	if (cd->rpmbs.num_rpmb_units > 0) {
		int w = o->width;

		o->width = 25;
		f_u(o, "  Number of RPMB Units:", "units", cd->rpmbs.num_rpmb_units);
		f_str(o, "  Authentication Method:", "authentication_method",
		      cd->rpmbs.auth_method == 0 ? "HMAC SHA-256" : "Unknown");
		o->width = w;
		if (o->json) {
			spio_json_write_named_uint32(o->w, "total_size_128k",
						     cd->rpmbs.total_size + 1u);
			spio_json_write_named_uint32(o->w, "access_size_512b",
						     cd->rpmbs.access_size + 1u);
		} else {
			printf("  Total Size (in 128KB units) = %u\n", cd->rpmbs.total_size + 1u);
			printf("  Access Size (in 512B units) = %u\n", cd->rpmbs.access_size + 1u);
		}
	}
	obj_end(o);
	for (i = 0; i < 3; i++) {
		if (crdt[i] != 0) {
			char key[32];

			snprintf(label, sizeof(label), "Command Retry Delay Time %d:", i + 1);
			snprintf(key, sizeof(key), "command_retry_delay_time_%d_ms", i + 1);
			f_num(o, label, key, crdt[i] * 100ull, "%" PRIu64 " milliseconds");
		}
	}
	obj_end(o);
	text_line(o, "%s", "");
}

static void print_firmware(struct out *o, const struct id_info *info, bool hex)
{
	const struct spio_nvme_firmware_page *fw = &info->firmware;
	char label[64], buf[16];
	int i;

	sec_begin(o, "Firmware Slot Information", "firmware_slots", 29);
	if (hex) {
		hex_dump(o, fw, sizeof(*fw));
	}
	f_u(o, "Active slot:", "active_slot", fw->afi.active_slot);
	if (fw->afi.next_reset_slot != 0) {
		f_u(o, "Next controller reset slot:", "next_reset_slot", fw->afi.next_reset_slot);
	}
	arr_begin(o, "revisions");
	for (i = 0; i < 7; i++) {
		if (all_zero(fw->revision[i], sizeof(fw->revision[i]))) {
			continue;
		}
		ascii_field(buf, fw->revision[i], sizeof(fw->revision[i]));
		if (o->json) {
			spio_json_write_object_begin(o->w);
			spio_json_write_named_uint32(o->w, "slot", (uint32_t)i + 1);
			spio_json_write_named_string(o->w, "revision", buf);
			spio_json_write_object_end(o->w);
		} else {
			snprintf(label, sizeof(label), "Slot %d Firmware Revision:", i + 1);
			text_field(o, label, buf);
		}
	}
	arr_end(o);
	obj_end(o);
	text_line(o, "%s", "");
}

static void print_ana_log(struct out *o, const struct id_info *info, bool hex)
{
	const struct spio_nvme_ana_page *hdr = (const void *)info->ana;
	size_t off = sizeof(*hdr);
	uint32_t i, j;

	sec_begin(o, "Asymmetric Namespace Access", "ana_log", 0);
	if (hex) {
		hex_dump(o, info->ana, info->ana_size);
	}
	if (o->json) {
		spio_json_write_named_uint64(o->w, "change_count", hdr->change_count);
		spio_json_write_named_array_begin(o->w, "groups");
	} else {
		printf("Change Count                    : %" PRIx64 "\n", hdr->change_count);
		printf("Number of ANA Group Descriptors : %u\n", hdr->num_ana_group_desc);
	}
	for (i = 0; i < hdr->num_ana_group_desc; i++) {
		struct spio_nvme_ana_group_descriptor d;
		uint32_t nsid;

		/* descriptors follow each other unaligned; stop at the page end */
		if (off + sizeof(d) > info->ana_size) {
			break;
		}
		memcpy(&d, info->ana + off, sizeof(d));
		off += sizeof(d);
		if (o->json) {
			spio_json_write_object_begin(o->w);
			spio_json_write_named_uint32(o->w, "ana_group_id", d.ana_group_id);
			spio_json_write_named_uint64(o->w, "change_count", d.change_count);
			spio_json_write_named_uint32(o->w, "ana_state", d.ana_state);
			spio_json_write_named_array_begin(o->w, "nsids");
		} else {
			printf("ANA Group Descriptor            : %u\n", i);
			printf("  ANA Group ID                  : %u\n", d.ana_group_id);
			printf("  Number of NSID Values         : %u\n", d.num_of_nsid);
			printf("  Change Count                  : %" PRIx64 "\n", d.change_count);
			printf("  ANA State                     : %u\n", d.ana_state);
		}
		for (j = 0; j < d.num_of_nsid && off + sizeof(nsid) <= info->ana_size; j++) {
			memcpy(&nsid, info->ana + off, sizeof(nsid));
			off += sizeof(nsid);
			if (o->json) {
				spio_json_write_uint32(o->w, nsid);
			} else {
				printf("  Namespace Identifier          : %u\n", nsid);
			}
		}
		if (o->json) {
			spio_json_write_array_end(o->w);
			spio_json_write_object_end(o->w);
		}
	}
	arr_end(o);
	obj_end(o);
}

static const char *admin_opc_name(uint8_t opc)
{
	switch (opc) {
	case SPIO_NVME_OPC_DELETE_IO_SQ:
		return "Delete I/O Submission Queue";
	case SPIO_NVME_OPC_CREATE_IO_SQ:
		return "Create I/O Submission Queue";
	case SPIO_NVME_OPC_GET_LOG_PAGE:
		return "Get Log Page";
	case SPIO_NVME_OPC_DELETE_IO_CQ:
		return "Delete I/O Completion Queue";
	case SPIO_NVME_OPC_CREATE_IO_CQ:
		return "Create I/O Completion Queue";
	case SPIO_NVME_OPC_IDENTIFY:
		return "Identify";
	case SPIO_NVME_OPC_ABORT:
		return "Abort";
	case SPIO_NVME_OPC_SET_FEATURES:
		return "Set Features";
	case SPIO_NVME_OPC_GET_FEATURES:
		return "Get Features";
	case SPIO_NVME_OPC_ASYNC_EVENT_REQUEST:
		return "Asynchronous Event Request";
	case SPIO_NVME_OPC_NS_MANAGEMENT:
		return "Namespace Management";
	case SPIO_NVME_OPC_FIRMWARE_COMMIT:
		return "Firmware Commit";
	case SPIO_NVME_OPC_FIRMWARE_IMAGE_DOWNLOAD:
		return "Firmware Image Download";
	case SPIO_NVME_OPC_DEVICE_SELF_TEST:
		return "Device Self-test";
	case SPIO_NVME_OPC_NS_ATTACHMENT:
		return "Namespace Attachment";
	case SPIO_NVME_OPC_KEEP_ALIVE:
		return "Keep Alive";
	case SPIO_NVME_OPC_DIRECTIVE_SEND:
		return "Directive Send";
	case SPIO_NVME_OPC_DIRECTIVE_RECEIVE:
		return "Directive Receive";
	case SPIO_NVME_OPC_VIRTUALIZATION_MANAGEMENT:
		return "Virtualization Management";
	case SPIO_NVME_OPC_NVME_MI_SEND:
		return "NVMe-MI Send";
	case SPIO_NVME_OPC_NVME_MI_RECEIVE:
		return "NVMe-MI Receive";
	case SPIO_NVME_OPC_DOORBELL_BUFFER_CONFIG:
		return "Doorbell Buffer Config";
	case SPIO_NVME_OPC_FORMAT_NVM:
		return "Format NVM";
	case SPIO_NVME_OPC_SECURITY_SEND:
		return "Security Send";
	case SPIO_NVME_OPC_SECURITY_RECEIVE:
		return "Security Receive";
	case SPIO_NVME_OPC_SANITIZE:
		return "Sanitize";
	default:
		return opc >= SPIO_NVME_OPC_VENDOR_SPECIFIC_START ? "Vendor specific" : "Unknown";
	}
}

static const char *io_opc_name(uint8_t opc)
{
	switch (opc) {
	case SPIO_NVME_OPC_FLUSH:
		return "Flush";
	case SPIO_NVME_OPC_WRITE:
		return "Write";
	case SPIO_NVME_OPC_READ:
		return "Read";
	case SPIO_NVME_OPC_WRITE_UNCORRECTABLE:
		return "Write Uncorrectable";
	case SPIO_NVME_OPC_COMPARE:
		return "Compare";
	case SPIO_NVME_OPC_WRITE_ZEROES:
		return "Write Zeroes";
	case SPIO_NVME_OPC_DATASET_MANAGEMENT:
		return "Dataset Management";
	case SPIO_NVME_OPC_VERIFY:
		return "Verify";
	case SPIO_NVME_OPC_RESERVATION_REGISTER:
		return "Reservation Register";
	case SPIO_NVME_OPC_RESERVATION_REPORT:
		return "Reservation Report";
	case SPIO_NVME_OPC_RESERVATION_ACQUIRE:
		return "Reservation Acquire";
	case 0x12: /* NVMe 2.0 TP4146 */
		return "IO Management Receive";
	case SPIO_NVME_OPC_RESERVATION_RELEASE:
		return "Reservation Release";
	case SPIO_NVME_OPC_COPY:
		return "Copy";
	case 0x1d: /* NVMe 2.0 TP4146 */
		return "IO Management Send";
	default:
		return opc >= 0x80 ? "Vendor specific" : "Unknown";
	}
}

static void print_effects_list(struct out *o, const char *key,
			       const union spio_nvme_cmds_and_effect_entry *list,
			       const char *(*name)(uint8_t))
{
	static const char *const cse[] = {"", "Per-NS-Exclusive", "All-NS-Exclusive"};
	uint32_t i;

	arr_begin(o, key);
	for (i = 0; i < 256; i++) {
		const union spio_nvme_cmds_and_effect_entry *e = &list[i];

		if (!e->bits.csupp) {
			continue;
		}
		if (!o->json) {
			printf("%30s (%02Xh): Supported %s%s%s%s%s\n", name((uint8_t)i), i,
			       e->bits.lbcc ? "LBA-Change " : "",
			       e->bits.ncc ? "NS-Cap-Change " : "",
			       e->bits.nic ? "NS-Inventory-Change " : "",
			       e->bits.ccc ? "Ctrlr-Cap-Change " : "",
			       e->bits.cse < 3 ? cse[e->bits.cse] : "");
			continue;
		}
		spio_json_write_object_begin(o->w);
		spio_json_write_named_uint32(o->w, "opcode", i);
		spio_json_write_named_string(o->w, "name", name((uint8_t)i));
		spio_json_write_named_bool(o->w, "lba_change", e->bits.lbcc);
		spio_json_write_named_bool(o->w, "ns_capability_change", e->bits.ncc);
		spio_json_write_named_bool(o->w, "ns_inventory_change", e->bits.nic);
		spio_json_write_named_bool(o->w, "ctrlr_capability_change", e->bits.ccc);
		spio_json_write_named_uint32(o->w, "submission_execution", e->bits.cse);
		spio_json_write_object_end(o->w);
	}
	arr_end(o);
}

static void print_effects(struct out *o, const struct id_info *info, bool hex)
{
	sec_begin(o, "Commands Supported and Effects", "commands_supported_effects", 0);
	if (hex) {
		hex_dump(o, &info->effects, sizeof(info->effects));
	}
	text_line(o, "Admin Commands\n--------------");
	print_effects_list(o, "admin", info->effects.admin_cmds_supported, admin_opc_name);
	text_line(o, "I/O Commands\n------------");
	print_effects_list(o, "io", info->effects.io_cmds_supported, io_opc_name);
	obj_end(o);
	text_line(o, "%s", "");
}

static void print_error_log(struct out *o, const struct id_info *info)
{
	uint32_t i, n = info->cdata.elpe + 1u;

	sec_begin(o, "Error Log", "error_log", 24);
	arr_begin(o, "entries");
	for (i = 0; i < n && i < ID_MAX_ERROR_ENTRIES; i++) {
		const struct spio_nvme_error_information_entry *e = &info->error_log[i];

		if (e->error_count == 0) {
			continue;
		}
		if (i != 0) {
			text_line(o, "-----------");
		}
		item_begin(o);
		if (o->json) {
			spio_json_write_named_uint32(o->w, "entry", i);
		} else {
			printf("Entry: %u\n", i);
		}
		f_num(o, "Error Count:", "error_count", e->error_count, "0x%" PRIx64);
		f_num(o, "Submission Queue Id:", "sqid", e->sqid, "0x%" PRIx64);
		f_num(o, "Command Id:", "cid", e->cid, "0x%" PRIx64);
		f_num(o, "Phase Bit:", "phase", e->status.p, "%" PRIx64);
		f_num(o, "Status Code:", "status_code", e->status.sc, "0x%" PRIx64);
		f_num(o, "Status Code Type:", "status_code_type", e->status.sct, "0x%" PRIx64);
		f_num(o, "Do Not Retry:", "do_not_retry", e->status.dnr, "%" PRIx64);
		f_num(o, "Error Location:", "error_location", e->error_location, "0x%" PRIx64);
		f_num(o, "LBA:", "lba", e->lba, "0x%" PRIx64);
		f_num(o, "Namespace:", "nsid", e->nsid, "0x%" PRIx64);
		f_num(o, "Vendor Log Page:", "vendor_log_page", e->vendor_specific, "0x%" PRIx64);
		obj_end(o);
	}
	arr_end(o);
	obj_end(o);
	text_line(o, "%s", "");
}

static void print_arbitration(struct out *o, const struct id_info *info)
{
	union spio_nvme_feat_arbitration arb = {.raw =
						    info->feat[SPIO_NVME_FEAT_ARBITRATION].value};

	sec_begin(o, "Arbitration", "arbitration", 29);
	f_opt(o, "Arbitration Burst:", "arbitration_burst", arb.bits.ab != 7, 1ull << arb.bits.ab,
	      "%" PRIu64, "no limit");
	if (info->cap.bits.ams & SPIO_NVME_CAP_AMS_WRR) {
		f_u(o, "Low Priority Weight:", "low_priority_weight", arb.bits.lpw + 1u);
		f_u(o, "Medium Priority Weight:", "medium_priority_weight", arb.bits.mpw + 1u);
		f_u(o, "High Priority Weight:", "high_priority_weight", arb.bits.hpw + 1u);
	}
	obj_end(o);
	text_line(o, "%s", "");
}

/* A power in units of 0.0001 W (scale 1) or 0.01 W (scale 2); JSON: watts. */
static void f_power(struct out *o, const char *label, const char *key, uint32_t v, uint32_t scale)
{
	char buf[32];

	if (scale == 1) {
		snprintf(buf, sizeof(buf), "%u.%04u W", v / 10000, v % 10000);
	} else if (scale == 2) {
		snprintf(buf, sizeof(buf), "%u.%02u W", v / 100, v % 100);
	} else {
		/* SPDK puts a space before this word */
		f_opt(o, label, key, false, 0, "%" PRIu64, " Not Reported");
		return;
	}
	if (o->json) {
		spio_json_write_named_double(o->w, key, scale == 1 ? v / 10000.0 : v / 100.0);
	} else {
		text_field(o, label, buf);
	}
}

static void print_power(struct out *o, const struct id_info *info)
{
	const struct spio_nvme_ctrlr_data *cd = &info->cdata;
	union spio_nvme_feat_power_management pm = {
	    .raw = info->feat[SPIO_NVME_FEAT_POWER_MANAGEMENT].value};
	uint32_t i;

	sec_begin(o, "Power Management", "power_management", 33);
	f_u(o, "Number of Power States:", "power_states", cd->npss + 1u);
	f_num(o, "Current Power State:", "current_power_state", pm.bits.ps,
	      "Power State #%" PRIu64);
	arr_begin(o, "states");
	for (i = 0; i <= cd->npss && i < SPIO_COUNTOF(cd->psd); i++) {
		const struct spio_nvme_power_state *ps = &cd->psd[i];
		char buf[32];

		item_begin(o);
		text_line(o, "Power State #%u:", i);
		if (o->json) {
			spio_json_write_named_uint32(o->w, "state", i);
			spio_json_write_named_double(o->w, "max_power_w",
						     ps->mps ? ps->mp / 10000.0 : ps->mp / 100.0);
		} else if (ps->mps) {
			snprintf(buf, sizeof(buf), "%u.%04u W", ps->mp / 10000u, ps->mp % 10000u);
			o->width = 32;
			text_field(o, "  Max Power:", buf);
		} else {
			snprintf(buf, sizeof(buf), "%3u.%02u W", ps->mp / 100u, ps->mp % 100u);
			o->width = 32;
			text_field(o, "  Max Power:", buf);
		}
		o->width = 33;
		f_flag(o, "  Non-Operational State:", "non_operational", ps->nops, "Non-Operation",
		       "Operational");
		f_opt(o, "  Entry Latency:", "entry_latency_us", ps->enlat != 0, ps->enlat,
		      "%" PRIu64 " microseconds", "Not Reported");
		f_opt(o, "  Exit Latency:", "exit_latency_us", ps->exlat != 0, ps->exlat,
		      "%" PRIu64 " microseconds", "Not Reported");
		f_u(o, "  Relative Read Throughput:", "relative_read_throughput", ps->rrt);
		f_u(o, "  Relative Read Latency:", "relative_read_latency", ps->rrl);
		f_u(o, "  Relative Write Throughput:", "relative_write_throughput", ps->rwt);
		f_u(o, "  Relative Write Latency:", "relative_write_latency", ps->rwl);
		f_power(o, "  Idle Power:", "idle_power_w", ps->idlp, ps->ips);
		f_power(o, "  Active Power:", "active_power_w", ps->actp, ps->aps);
		obj_end(o);
	}
	arr_end(o);
	f_sup(o, "Non-Operational Permissive Mode:", "non_operational_permissive_mode",
	      cd->ctratt & SPIO_NVME_CTRATT_NOPSPM);
	obj_end(o);
	text_line(o, "%s", "");
}

static void f_temp(struct out *o, const char *label, const char *key, uint32_t kelvin)
{
	char buf[64];

	if (o->json) {
		spio_json_write_named_uint32(o->w, key, kelvin);
		return;
	}
	snprintf(buf, sizeof(buf), "%u Kelvin (%d Celsius)", kelvin, (int)kelvin - 273);
	text_field(o, label, buf);
}

static void print_health(struct out *o, const struct id_info *info, bool hex)
{
	const struct spio_nvme_health_information_page *h = &info->health;
	union spio_nvme_critical_warning_state cw = h->critical_warning;
	uint64_t v[2];
	char label[64], key[32];
	int i;

	sec_begin(o, "Health Information", "health", 29);
	if (hex) {
		hex_dump(o, h, sizeof(*h));
	}
	grp_begin(o, "Critical Warnings:", "critical_warnings");
	f_flag(o, "  Available Spare Space:", "available_spare", cw.bits.available_spare, "WARNING",
	       "OK");
	f_flag(o, "  Temperature:", "temperature", cw.bits.temperature, "WARNING", "OK");
	f_flag(o, "  Device Reliability:", "device_reliability", cw.bits.device_reliability,
	       "WARNING", "OK");
	f_yes(o, "  Read Only:", "read_only", cw.bits.read_only);
	f_flag(o, "  Volatile Memory Backup:", "volatile_memory_backup",
	       cw.bits.volatile_memory_backup, "WARNING", "OK");
	obj_end(o);
	f_temp(o, "Current Temperature:", "temperature_kelvin", h->temperature);
	f_temp(o, "Temperature Threshold:", "temperature_threshold_kelvin",
	       info->feat[SPIO_NVME_FEAT_TEMPERATURE_THRESHOLD].value);
	f_num(o, "Available Spare:", "available_spare_pct", h->available_spare, "%" PRIu64 "%%");
	f_num(o, "Available Spare Threshold:", "available_spare_threshold_pct",
	      h->available_spare_threshold, "%" PRIu64 "%%");
	f_num(o, "Life Percentage Used:", "percentage_used", h->percentage_used, "%" PRIu64 "%%");
	/* the packed page's 128-bit counters, copied out to aligned words */
#define H128(label, key, field, unit)           \
	do {                                    \
		memcpy(v, h->field, sizeof(v)); \
		f_u128(o, label, key, v, unit); \
	} while (0)
	H128("Data Units Read:", "data_units_read", data_units_read, "");
	H128("Data Units Written:", "data_units_written", data_units_written, "");
	H128("Host Read Commands:", "host_read_commands", host_read_commands, "");
	H128("Host Write Commands:", "host_write_commands", host_write_commands, "");
	H128("Controller Busy Time:", "controller_busy_time_min", controller_busy_time, " minutes");
	H128("Power Cycles:", "power_cycles", power_cycles, "");
	H128("Power On Hours:", "power_on_hours", power_on_hours, " hours");
	H128("Unsafe Shutdowns:", "unsafe_shutdowns", unsafe_shutdowns, "");
	H128("Unrecoverable Media Errors:", "media_errors", media_errors, "");
	H128("Lifetime Error Log Entries:", "error_log_entries", num_error_info_log_entries, "");
#undef H128
	f_num(o, "Warning Temperature Time:", "warning_temp_time_min", h->warning_temp_time,
	      "%" PRIu64 " minutes");
	f_num(o, "Critical Temperature Time:", "critical_temp_time_min", h->critical_temp_time,
	      "%" PRIu64 " minutes");
	for (i = 0; i < 8; i++) {
		uint16_t t;

		memcpy(&t, &h->temp_sensor[i], sizeof(t));
		if (t != 0) {
			snprintf(label, sizeof(label), "Temperature Sensor %d:", i + 1);
			snprintf(key, sizeof(key), "temperature_sensor_%d_kelvin", i + 1);
			f_temp(o, label, key, t);
		}
	}
	obj_end(o);
	text_line(o, "%s", "");
}

static void print_queues(struct out *o, const struct id_info *info)
{
	union spio_nvme_feat_number_of_queues q = {
	    .raw = info->feat[SPIO_NVME_FEAT_NUMBER_OF_QUEUES].value};

	sec_begin(o, "Number of Queues", "number_of_queues", 38);
	f_u(o, "Number of I/O Submission Queues:", "io_submission_queues", q.bits.nsqr + 1u);
	/* NCQA; SPDK's tool shows NSQA on this line too (an operator precedence slip) */
	f_u(o, "Number of I/O Completion Queues:", "io_completion_queues", q.bits.ncqr + 1u);
	obj_end(o);
	text_line(o, "%s", "");
}

static void print_hctm(struct out *o, const struct spio_nvme_ctrlr_data *cd)
{
	sec_begin(o, "Host Controlled Thermal Management", "host_controlled_thermal_management",
		  41);
	if (o->json) {
		spio_json_write_named_uint32(o->w, "min_temperature_kelvin", cd->mntmt);
		spio_json_write_named_uint32(o->w, "max_temperature_kelvin", cd->mxtmt);
	} else {
		char buf[64];

		snprintf(buf, sizeof(buf), "%u Kelvin (%d Celsius)", cd->mntmt,
			 (int)cd->mntmt - 273);
		text_field(
		    o, "Minimum Thermal Management Temperature:", cd->mntmt ? buf : "Not Reported");
		snprintf(buf, sizeof(buf), "%u Kelvin (%d Celsius)", cd->mxtmt,
			 (int)cd->mxtmt - 273);
		/* one column further than the line above, as in SPDK */
		o->width = 42;
		text_field(
		    o, "Maximum Thermal Management Temperature:", cd->mxtmt ? buf : "Not Reported");
	}
	obj_end(o);
	text_line(o, "%s", "");
}

/*
 * Namespaces
 */

static const char *csi_name(uint8_t csi)
{
	switch (csi) {
	case SPIO_NVME_CSI_NVM:
		return "NVM";
	case SPIO_NVME_CSI_KV:
		return "KV";
	case SPIO_NVME_CSI_ZNS:
		return "ZNS";
	default:
		return csi >= 0x30 && csi <= 0x3f ? "Vendor specific" : "Unknown";
	}
}

static void f_blocks(struct out *o, const char *label, const char *key, uint64_t blocks,
		     uint32_t block_size)
{
	char buf[64];

	if (o->json) {
		spio_json_write_named_uint64(o->w, key, blocks);
		return;
	}
	snprintf(buf, sizeof(buf), "%" PRIu64 " (%" PRIu64 "GiB)", blocks,
		 blocks * block_size / 1024 / 1024 / 1024);
	text_field(o, label, buf);
}

static const char *pi_format_name(uint32_t pif)
{
	static const char *const names[] = {"16b Guard PI", "32b Guard PI", "64b Guard PI",
					    "Reserved"};

	return pif < SPIO_COUNTOF(names) ? names[pif] : "Unknown";
}

/* CNS 05h, NVM command set: LBSTM (bytes 0-7), PIC (8), ELBAF0-63 (12-267). */
static void print_nvm_ns(struct out *o, const struct id_ns *ns)
{
	const struct spio_nvme_ns_data *nd = &ns->data;
	uint64_t lbstm;
	uint8_t pic = ns->nvm[8];
	uint32_t i, elbaf;

	memcpy(&lbstm, ns->nvm, sizeof(lbstm));
	if (o->json) {
		spio_json_write_named_object_begin(o->w, "nvm_specific");
		spio_json_write_named_uint64(o->w, "lbstm", lbstm);
		spio_json_write_named_bool(o->w, "pi_16b_storage_tag", pic & 1);
		spio_json_write_named_bool(o->w, "pi_16b_storage_tag_mask", pic & 2);
		spio_json_write_named_bool(o->w, "storage_tag_check_read", pic & 4);
		spio_json_write_named_array_begin(o->w, "extended_lba_formats");
	} else {
		printf("NVM Specific Namespace Data\n");
		printf("===========================\n");
		printf("Logical Block Storage Tag Mask:               %" PRIx64 "\n", lbstm);
		printf("Protection Information Capabilities:\n");
		printf("  16b Guard Protection Information Storage Tag Support:  %s\n",
		       pic & 1 ? "Yes" : "No");
		printf("  16b Guard Protection Information Storage Tag Mask:     %s\n",
		       pic & 2 ? "LBSTM must be all 1s" : "Any bit in LBSTM can be 0");
		printf("  Storage Tag Check Read Support:                        %s\n",
		       pic & 4 ? "Yes" : "No");
	}
	for (i = 0; i <= nd->nlbaf && i < SPIO_NVME_NS_MAX_LBA_FORMATS; i++) {
		memcpy(&elbaf, ns->nvm + 12 + 4 * i, sizeof(elbaf));
		if (o->json) {
			spio_json_write_object_begin(o->w);
			spio_json_write_named_uint32(o->w, "storage_tag_size", elbaf & 0x7f);
			spio_json_write_named_string(o->w, "pi_format",
						     pi_format_name((elbaf >> 7) & 3));
			spio_json_write_object_end(o->w);
		} else {
			printf("Extended LBA Format #%02u: Storage Tag Size: %-2u, Protection "
			       "Information Format: %s\n",
			       i, elbaf & 0x7f, pi_format_name((elbaf >> 7) & 3));
		}
	}
	if (o->json) {
		spio_json_write_array_end(o->w);
		spio_json_write_object_end(o->w);
	}
}

static void print_ns_atomic(struct out *o, const struct spio_nvme_ns_data *nd)
{
	f_yes(o, "Per-NS Atomic Units:", "per_ns_atomic_units", nd->nsfeat.ns_atomic_write_unit);
	if (!nd->nsfeat.ns_atomic_write_unit) {
		return;
	}
	grp_begin(o, NULL, "atomic");
	if (nd->nawun) {
		f_u(o, "  Atomic Write Unit (Normal):", "write_unit_normal", nd->nawun + 1u);
	}
	if (nd->nawupf) {
		f_u(o, "  Atomic Write Unit (PFail):", "write_unit_power_fail", nd->nawupf + 1u);
	}
	if (nd->npwg) {
		f_u(o, "  Preferred Write Granularity:", "preferred_write_granularity",
		    nd->npwg + 1u);
	}
	if (nd->nacwu) {
		f_u(o, "  Atomic Compare & Write Unit:", "compare_write_unit", nd->nacwu + 1u);
	}
	f_u(o, "  Atomic Boundary Size (Normal):", "boundary_size_normal", nd->nabsn);
	f_u(o, "  Atomic Boundary Size (PFail):", "boundary_size_power_fail", nd->nabspf);
	f_u(o, "  Atomic Boundary Offset:", "boundary_offset", nd->nabo);
	obj_end(o);
}

static void print_namespace(struct out *o, const struct id_info *info, const struct id_ns *ns,
			    bool hex)
{
	const struct spio_nvme_ctrlr_data *cd = &info->cdata;
	const struct spio_nvme_ns_data *nd = &ns->data;
	uint32_t fmt = spio_nvme_ns_data_lba_format_index(nd), i;
	const struct spio_nvme_lbaf *lbaf = &nd->lbaf[fmt < SPIO_NVME_NS_MAX_LBA_FORMATS ? fmt : 0];
	uint8_t csi = id_ns_csi(ns);
	const uint8_t *uuid = ns_uuid(ns);
	char buf[64];

	item_begin(o);
	o->width = 39;
	if (o->json) {
		spio_json_write_named_uint32(o->w, "nsid", ns->nsid);
	} else {
		printf("Namespace ID:%u\n", ns->nsid);
	}
	if (hex) {
		hex_dump(o, nd, sizeof(*nd));
	}
	if (ns->err_rec.valid) {
		union spio_nvme_feat_error_recovery er = {.raw = ns->err_rec.value};

		f_opt(o, "Error Recovery Timeout:", "error_recovery_timeout_ms", er.bits.tler != 0,
		      er.bits.tler * 100ull, "%" PRIu64 " milliseconds", "Unlimited");
	}
	snprintf(buf, sizeof(buf), "%s (%02Xh)", csi_name(csi), csi);
	if (o->json) {
		spio_json_write_named_uint32(o->w, "csi", csi);
	} else {
		text_field(o, "Command Set Identifier:", buf);
	}
	f_sup(o, "Deallocate:", "deallocate", cd->oncs.dsm);
	f_sup(o, "Deallocated/Unwritten Error:", "deallocated_unwritten_error",
	      nd->nsfeat.dealloc_or_unwritten_error);
	f_str(o, "Deallocated Read Value:", "deallocated_read_value",
	      nd->dlfeat.read_value == 1   ? "All 0x00"
	      : nd->dlfeat.read_value == 2 ? "All 0xFF"
					   : "Unknown");
	f_sup(o, "Deallocate in Write Zeroes:", "deallocate_in_write_zeroes",
	      nd->dlfeat.write_zero_deallocate);
	f_str(o, "Deallocated Guard Field:", "deallocated_guard_field",
	      nd->dlfeat.guard_value ? "CRC for Read Value" : "0xFFFF");
	/* a flush matters, and is accepted, only with a volatile write cache */
	f_sup(o, "Flush:", "flush", cd->vwc.present);
	f_sup(o, "Reservation:", "reservation", nd->nsrescap.raw != 0);
	if (lbaf->ms && nd->dps.pit) {
		f_sup(o, "End-to-End Data Protection:", "end_to_end_protection", true);
		f_num(o, "Protection Type:", "protection_type", nd->dps.pit, "Type%" PRIu64);
		f_str(o, "Protection Information Transferred as:", "protection_info_location",
		      nd->dps.md_start ? "First 8/16 Bytes" : "Last 8/16 Bytes");
	}
	if (lbaf->ms > 0) {
		f_str(o, "Metadata Transferred as:", "metadata_transferred_as",
		      nd->flbas.extended ? "Extended Data LBA" : "Separate Metadata Buffer");
	}
	f_flag(o, "Namespace Sharing Capabilities:", "shared", nd->nmic.can_share,
	       "Multiple Controllers", "Private");
	f_blocks(o, "Size (in LBAs):", "size_lbas", nd->nsze, 1u << lbaf->lbads);
	f_blocks(o, "Capacity (in LBAs):", "capacity_lbas", nd->ncap, 1u << lbaf->lbads);
	f_blocks(o, "Utilization (in LBAs):", "utilization_lbas", nd->nuse, 1u << lbaf->lbads);
	if (nd->noiob) {
		f_num(o, "Optimal I/O Boundary:", "optimal_io_boundary_blocks", nd->noiob,
		      "%" PRIu64 " blocks");
	}
	if (!all_zero(nd->nguid, sizeof(nd->nguid))) {
		hex_upper(buf, nd->nguid, sizeof(nd->nguid));
		f_str(o, "NGUID:", "nguid", buf);
	}
	if (nd->eui64 != 0) {
		hex_upper(buf, (const uint8_t *)&nd->eui64, sizeof(nd->eui64));
		f_str(o, "EUI64:", "eui64", buf);
	}
	if (uuid != NULL) {
		struct spio_uuid u;

		memcpy(&u, uuid, sizeof(u));
		spio_uuid_fmt_lower(buf, sizeof(buf), &u);
		f_str(o, "UUID:", "uuid", buf);
	}
	f_sup(o, "Thin Provisioning:", "thin_provisioning", nd->nsfeat.thin_prov);
	print_ns_atomic(o, nd);
	if (cd->oncs.copy) {
		f_u(o, "Maximum Single Source Range Length:", "max_single_source_range_length",
		    nd->mssrl);
		f_u(o, "Maximum Copy Length:", "max_copy_length", nd->mcl);
		f_u(o, "Maximum Source Range Count:", "max_source_range_count", nd->msrc + 1u);
	}
	f_yes(o, "NGUID/EUI64 Never Reused:", "nguid_eui64_never_reused",
	      nd->nsfeat.guid_never_reused);
	if (cd->cmic.ana_reporting) {
		f_u(o, "ANA group ID:", "ana_group_id", nd->anagrpid);
	}
	f_yes(o, "Namespace Write Protected:", "write_protected", nd->nsattr.write_protected);
	if (cd->ctratt & SPIO_NVME_CTRATT_NVM_SETS) {
		f_u(o, "NVM set ID:", "nvm_set_id", nd->nvmsetid);
	}
	if (cd->ctratt & SPIO_NVME_CTRATT_ENDURANCE_GROUPS) {
		f_u(o, "Endurance group ID:", "endurance_group_id", nd->endgid);
	}
	f_u(o, "Number of LBA Formats:", "lba_formats_count", nd->nlbaf + 1u);
	f_num(o, "Current LBA Format:", "current_lba_format", fmt, "LBA Format #%02" PRIu64);
	arr_begin(o, "lba_formats");
	for (i = 0; i <= nd->nlbaf && i < SPIO_NVME_NS_MAX_LBA_FORMATS; i++) {
		if (o->json) {
			spio_json_write_object_begin(o->w);
			spio_json_write_named_uint32(o->w, "data_size", 1u << nd->lbaf[i].lbads);
			spio_json_write_named_uint32(o->w, "metadata_size", nd->lbaf[i].ms);
			spio_json_write_named_uint32(o->w, "relative_performance", nd->lbaf[i].rp);
			spio_json_write_object_end(o->w);
		} else {
			printf("LBA Format #%02u: Data Size: %5u  Metadata Size: %5u\n", i,
			       1u << nd->lbaf[i].lbads, nd->lbaf[i].ms);
		}
	}
	arr_end(o);
	text_line(o, "%s", "");
	if (ns->have_nvm && csi == SPIO_NVME_CSI_NVM) {
		print_nvm_ns(o, ns);
	}
	obj_end(o);
}

/*
 * Discovery log
 */

/*
 * A fixed-size field of the discovery log as a C string: up to its NUL, and
 * in JSON without the space padding (text keeps it, as SPDK prints it).
 */
static void fixed_field(const struct out *o, char *out, const char *field, size_t size)
{
	size_t n = strnlen(field, size);

	while (o->json && n > 0 && field[n - 1] == ' ') {
		n--;
	}
	memcpy(out, field, n);
	out[n] = '\0';
}

static const char *subtype_name(uint8_t subtype)
{
	switch (subtype) {
	case SPIO_NVMF_SUBTYPE_DISCOVERY_REFERRAL:
		return "Referral to a discovery service";
	case SPIO_NVMF_SUBTYPE_NVME:
		return "NVM Subsystem";
	case SPIO_NVMF_SUBTYPE_DISCOVERY_CURRENT:
		return "Current Discovery Subsystem";
	default:
		return "Unknown";
	}
}

static const char *secure_channel_name(uint8_t sc)
{
	static const char *const names[] = {"Not Specified", "Required", "Not Required"};

	return sc < SPIO_COUNTOF(names) ? names[sc] : "Reserved";
}

static void print_discovery_entry(struct out *o, uint32_t i,
				  const struct spio_nvmf_discovery_log_page_entry *e)
{
	const char *trtype = spio_nvme_transport_id_trtype_str(e->trtype);
	const char *adrfam = spio_nvme_transport_id_adrfam_str(e->adrfam);
	char buf[SPIO_NVME_NQN_FIELD_SIZE + 1];

	trtype = trtype != NULL ? trtype : "unknown";
	adrfam = adrfam != NULL ? adrfam : "unknown";
	if (o->json) {
		spio_json_write_object_begin(o->w);
		spio_json_write_named_string(o->w, "trtype", trtype);
		spio_json_write_named_string(o->w, "adrfam", adrfam);
		spio_json_write_named_uint32(o->w, "subtype", e->subtype);
		spio_json_write_named_bool(o->w, "duplicate_returned_info",
					   e->eflags & SPIO_NVMF_DISCOVERY_LOG_EFLAGS_DUPRETINFO);
		spio_json_write_named_bool(o->w, "explicit_persistent_connection",
					   e->eflags & SPIO_NVMF_DISCOVERY_LOG_EFLAGS_EPCSD);
		spio_json_write_named_string(o->w, "secure_channel",
					     secure_channel_name(e->treq.secure_channel));
		spio_json_write_named_uint32(o->w, "portid", e->portid);
		spio_json_write_named_uint32(o->w, "cntlid", e->cntlid);
		spio_json_write_named_uint32(o->w, "asqsz", e->asqsz);
		fixed_field(o, buf, e->trsvcid, sizeof(e->trsvcid));
		spio_json_write_named_string(o->w, "trsvcid", buf);
		fixed_field(o, buf, e->subnqn, sizeof(e->subnqn));
		spio_json_write_named_string(o->w, "subnqn", buf);
		fixed_field(o, buf, e->traddr, sizeof(e->traddr));
		spio_json_write_named_string(o->w, "traddr", buf);
		spio_json_write_object_end(o->w);
		return;
	}
	printf("Discovery Log Entry %u\n", i);
	printf("----------------------\n");
	printf("Transport Type:                        %u (%s)\n", e->trtype, trtype);
	printf("Address Family:                        %u (%s)\n", e->adrfam, adrfam);
	printf("Subsystem Type:                        %u (%s)\n", e->subtype,
	       subtype_name(e->subtype));
	printf("Entry Flags:\n");
	printf("  Duplicate Returned Information:\t\t\t%u\n",
	       !!(e->eflags & SPIO_NVMF_DISCOVERY_LOG_EFLAGS_DUPRETINFO));
	printf("  Explicit Persistent Connection Support for Discovery: %u\n",
	       !!(e->eflags & SPIO_NVMF_DISCOVERY_LOG_EFLAGS_EPCSD));
	printf("Transport Requirements:\n");
	printf("  Secure Channel:                      %s\n",
	       secure_channel_name(e->treq.secure_channel));
	printf("Port ID:                               %u (0x%04x)\n", e->portid, e->portid);
	printf("Controller ID:                         %u (0x%04x)\n", e->cntlid, e->cntlid);
	printf("Admin Max SQ Size:                     %u\n", e->asqsz);
	fixed_field(o, buf, e->trsvcid, sizeof(e->trsvcid));
	printf("Transport Service Identifier:          %s\n", buf);
	fixed_field(o, buf, e->subnqn, sizeof(e->subnqn));
	printf("NVM Subsystem Qualified Name:          %s\n", buf);
	fixed_field(o, buf, e->traddr, sizeof(e->traddr));
	printf("Transport Address:                     %s\n", buf);
}

static void print_discovery(struct out *o, const struct id_info *info, bool hex)
{
	const struct spio_nvmf_discovery_log_page *log = info->discovery_log;
	uint32_t i;

	sec_begin(o, "Discovery Log Page", "discovery_log", 39);
	if (hex) {
		hex_dump(o, log, sizeof(*log) + log->numrec * sizeof(log->entries[0]));
	}
	f_u(o, "Generation Counter:", "genctr", log->genctr);
	f_u(o, "Number of Records:", "numrec", log->numrec);
	f_u(o, "Record Format:", "recfmt", log->recfmt);
	text_line(o, "%s", "");
	arr_begin(o, "entries");
	for (i = 0; i < log->numrec; i++) {
		print_discovery_entry(o, i, &log->entries[i]);
	}
	arr_end(o);
	obj_end(o);
}

/*
 * The report
 */

static void print_all(struct out *o, const struct id_info *info, bool hex)
{
	const struct spio_nvme_ctrlr_data *cd = &info->cdata;
	uint32_t i;

	print_banner(o, info);
	if (hex) {
		hex_dump(o, cd, sizeof(*cd));
	}
	print_caps(o, info);
	print_cmb_pmr(o, info);
	print_admin_attrs(o, cd);
	print_nvm_attrs(o, cd);
	/* SPDK prints these two for a discovery controller too, from zeroed pages */
	if (info->live) {
		print_firmware(o, info, hex);
		if (info->ana != NULL) {
			print_ana_log(o, info, hex);
		}
		text_line(o, "%s", "");
		if (info->have_effects) {
			print_effects(o, info, hex);
		}
		print_error_log(o, info);
		if (info->feat[SPIO_NVME_FEAT_ARBITRATION].valid) {
			print_arbitration(o, info);
		}
		if (info->feat[SPIO_NVME_FEAT_POWER_MANAGEMENT].valid) {
			print_power(o, info);
		}
		if (info->feat[SPIO_NVME_FEAT_TEMPERATURE_THRESHOLD].valid) {
			print_health(o, info, hex);
		}
		if (info->feat[SPIO_NVME_FEAT_NUMBER_OF_QUEUES].valid) {
			print_queues(o, info);
		}
	}
	if (cd->hctma.supported) {
		print_hctm(o, cd);
	}
	/* a section of the text, an array in JSON */
	text_line(o, "Active Namespaces\n=================");
	arr_begin(o, "namespaces");
	for (i = 0; i < info->num_ns; i++) {
		print_namespace(o, info, &info->ns[i], hex);
	}
	arr_end(o);
	if (info->discovery_log != NULL) {
		print_discovery(o, info, hex);
	}
}

static int json_out(void *ctx, const void *data, size_t size)
{
	return fwrite(data, 1, size, stdout) == size ? 0 : -EIO;
}

int id_print(const struct id_info *info, const struct id_print_opts *opts)
{
	struct out o = {.json = opts->json};
	int rc = 0;

	if (o.json) {
		o.w = spio_json_write_begin(json_out, NULL, SPIO_JSON_WRITE_FLAG_FORMATTED);
		if (o.w == NULL) {
			return -ENOMEM;
		}
		spio_json_write_object_begin(o.w);
	}
	print_all(&o, info, opts->hex_dump && !opts->json);
	if (o.json) {
		spio_json_write_object_end(o.w);
		rc = spio_json_write_end(o.w);
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		rc = -EIO;
	}
	return rc;
}
