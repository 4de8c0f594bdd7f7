/*
 * Controller properties (CAP, VS, CC, CSTS) over the admin queue with the
 * fabrics Property Get / Set commands, from a task; or, for a transport
 * with registers (PCIe), read and written directly.
 */
#include <errno.h>

#include "spio/task.h"

#include "nvme/nvme_fabric.h"
#include "nvme/nvme_internal.h"

static int prop_cmd_await(struct spio_nvme_ctrlr *ctrlr, const struct spio_nvme_cmd *cmd,
			  struct spio_nvme_cpl *cpl)
{
	return nvme_admin_await(ctrlr, cmd, NULL, 0, cpl);
}

int nvme_ctrlr_prop_get_await(struct spio_nvme_ctrlr *ctrlr, uint32_t offset, uint8_t size,
			      uint64_t *value)
{
	struct spio_nvme_cmd cmd;
	struct spio_nvme_cpl cpl;
	int rc;

	if (ctrlr->ops->ctrlr_get_reg != NULL) {
		return ctrlr->ops->ctrlr_get_reg(ctrlr, offset, size, value);
	}
	rc = nvme_fabric_prop_get_build(&cmd, offset, size);
	if (rc == 0) {
		rc = prop_cmd_await(ctrlr, &cmd, &cpl);
	}
	if (rc == 0) {
		*value = nvme_fabric_prop_get_rsp_value(&cpl, size);
	}
	return rc;
}

int nvme_ctrlr_prop_set_await(struct spio_nvme_ctrlr *ctrlr, uint32_t offset, uint8_t size,
			      uint64_t value)
{
	struct spio_nvme_cmd cmd;
	struct spio_nvme_cpl cpl;
	int rc;

	if (ctrlr->ops->ctrlr_set_reg != NULL) {
		return ctrlr->ops->ctrlr_set_reg(ctrlr, offset, size, value);
	}
	rc = nvme_fabric_prop_set_build(&cmd, offset, size, value);

	return rc != 0 ? rc : prop_cmd_await(ctrlr, &cmd, &cpl);
}
