/*
 * The transports this build has. PCIe joins here with its own ops.
 */
#include "nvme/nvme_internal.h"

const struct nvme_transport_ops *nvme_transport_get(enum spio_nvme_transport_type trtype)
{
	switch (trtype) {
	case SPIO_NVME_TRANSPORT_TCP:
		return &g_nvme_tcp_ops;
	default:
		return NULL;
	}
}
