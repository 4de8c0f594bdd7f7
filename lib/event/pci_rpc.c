/*
 * SPDK's framework_get_pci_devices: the PCI devices this process has
 * attached, each with its address, the kind of driver that attached it, its
 * NUMA node and its config space in hex (what `rpc.py framework_get_pci_devices
 * --format-lspci` turns into input for `lspci -F`).
 */
#include <stdbool.h>
#include <stdint.h>

#include "spio/json.h"
#include "spio/pci.h"
#include "spio/rpc.h"

#define CFG_BASE 256
#define CFG_EXTENDED 4096

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] != 0) {
			return false;
		}
	}
	return true;
}

/* Upper-case hex, as SPDK's spdk_json_write_bytearray() (spio's writes lower
 * case; rpc.py's --format-lspci lowers it either way, but scripts compare). */
static void hex_upper(char *out, const uint8_t *p, size_t len)
{
	static const char digits[] = "0123456789ABCDEF";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * len] = '\0';
}

/* Runs under the PCI layer's device-list lock: the device cannot go away. */
static int write_device(void *arg, struct spio_pci_device *dev)
{
	struct spio_json_write_ctx *w = arg;
	const struct spio_pci_device_info *info = spio_pci_device_get_info(dev);
	uint8_t config[CFG_EXTENDED];
	char hex[2 * CFG_EXTENDED + 1];
	char bdf[SPIO_PCI_ADDR_STRLEN];
	size_t len = 0;

	spio_pci_addr_fmt(bdf, sizeof(bdf), &info->addr);
	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "address", bdf);
	spio_json_write_named_string(w, "type", spio_pci_device_get_type(dev));
	spio_json_write_named_int32(w, "numa_id", info->numa_node);
	/* SPDK's rule: the first 256 bytes, and all 4096 when the extended
	 * space exists and says anything. (SPDK's own test of that is inverted,
	 * writing 4096 bytes only when they are all zero; spio does what its
	 * comment says. A device whose config space cannot be read shows "".) */
	if (spio_pci_device_cfg_read(dev, config, CFG_BASE, 0) == 0) {
		len = CFG_BASE;
		/* -EINVAL, silently, when the device has no extended space */
		if (spio_pci_device_cfg_read(dev, config + CFG_BASE, CFG_EXTENDED - CFG_BASE,
					     CFG_BASE) == 0 &&
		    !all_zero(config + CFG_BASE, CFG_EXTENDED - CFG_BASE)) {
			len = CFG_EXTENDED;
		}
	}
	hex_upper(hex, config, len);
	spio_json_write_named_string(w, "config_space", hex);
	spio_json_write_object_end(w);
	return 0;
}

static void rpc_framework_get_pci_devices(struct spio_jsonrpc_request *req,
					  const struct spio_json_val *params)
{
	struct spio_json_write_ctx *w;

	if (params != NULL) {
		/* SPDK's words, its trailing newline included */
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
						 "framework_get_pci_devices doesn't accept any "
						 "parameters.\n");
		return;
	}
	w = spio_jsonrpc_begin_result(req);
	if (w == NULL) {
		return;
	}
	spio_json_write_array_begin(w);
	spio_pci_for_each_device(write_device, w);
	spio_json_write_array_end(w);
	spio_jsonrpc_end_result(req, w);
}
SPIO_RPC_REGISTER("framework_get_pci_devices", rpc_framework_get_pci_devices, SPIO_RPC_RUNTIME)
