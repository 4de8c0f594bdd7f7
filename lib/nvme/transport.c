/*
 * The transports this build has.
 */
#include "nvme/nvme_internal.h"

const struct nvme_transport_ops *nvme_transport_get(enum spio_nvme_transport_type trtype)
{
	switch (trtype) {
	case SPIO_NVME_TRANSPORT_TCP:
		return &g_nvme_tcp_ops;
	case SPIO_NVME_TRANSPORT_PCIE:
		return &g_nvme_pcie_ops;
	default:
		return NULL;
	}
}
