/* The runtime of the PCIe transport tests: see helper_pcie_env.h. */
#include "helper_pcie_env.h"

#include <criterion/criterion.h>

#include "spio/env.h"
#include "spio/nvme.h"

#include "helper_fake_pcie.h"

struct spio_thread *pcie_env_start(const char *env_name, const char *thread_name,
				   spio_new_thread_fn new_thread)
{
	struct spio_env_opts eo;
	struct spio_thread *thread;

	spio_env_opts_init(&eo, sizeof(eo));
	eo.name = env_name;
	eo.no_huge = true; /* IOVA = VA: the fake reads host memory directly */
	cr_assert_eq(spio_env_init(&eo), 0);
	cr_assert_eq(spio_thread_lib_init(new_thread, 0), 0);
	thread = spio_thread_create(thread_name, NULL);
	cr_assert_not_null(thread);
	spio_set_thread(thread);
	nvme_pcie_set_dev_ops(fake_pcie_ops());
	return thread;
}

void pcie_env_stop(struct spio_thread *thread)
{
	nvme_pcie_set_dev_ops(NULL);
	spio_thread_exit(thread);
	while (!spio_thread_is_exited(thread)) {
		spio_thread_poll(thread, 0, 0);
	}
	spio_set_thread(NULL);
	spio_thread_destroy(thread);
	spio_thread_lib_fini();
	spio_env_fini();
}

void pcie_env_free_case(struct spio_nvme_qpair **qpair, struct spio_nvme_ctrlr **ctrlr,
			struct fake_pcie **fp, bool strict)
{
	if (*qpair != NULL) {
		spio_nvme_ctrlr_free_io_qpair(*qpair);
		*qpair = NULL;
	}
	if (*ctrlr != NULL) {
		int rc = spio_nvme_detach(*ctrlr);

		*ctrlr = NULL;
		cr_assert(!strict || rc == 0, "detach failed: %d", rc);
	}
	if (*fp != NULL) {
		cr_assert(!strict || !fake_pcie_is_open(*fp),
			  "the device is still open after detach");
		fake_pcie_destroy(*fp);
		*fp = NULL;
	}
}
