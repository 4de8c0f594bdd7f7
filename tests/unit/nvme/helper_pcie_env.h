/*
 * Test helper: the runtime every test of the PCIe transport against the fake
 * controller (helper_fake_pcie) starts with, and its tear-down: the env in
 * no-huge mode (IOVA = VA, which the fake needs to read host memory), the
 * thread library, one spio thread made current on the calling OS thread,
 * and fake_pcie_ops() installed as the transport's device operations; the
 * clean-up of a case (qpair, controller, fake). (A command's result:
 * helper_nvme_wait.h.)
 *
 * Threads: call these functions from the test's one OS thread (Criterion's
 * suite .init / .fini). Nothing here keeps state: the caller holds the
 * spio thread it gets.
 */
#ifndef SPIO_TEST_HELPER_PCIE_ENV_H
#define SPIO_TEST_HELPER_PCIE_ENV_H

#include <stdbool.h>

#include "spio/thread.h"

struct fake_pcie;
struct spio_nvme_ctrlr;
struct spio_nvme_qpair;

/*
 * Start env `env_name` (no huge pages), the thread library (new_thread: its
 * optional hook), and a spio thread `thread_name` set current; install the
 * fake's device operations. A failure fails the test (Criterion assertion).
 * Returns the spio thread; pcie_env_stop() destroys it.
 */
struct spio_thread *pcie_env_start(const char *env_name, const char *thread_name,
				   spio_new_thread_fn new_thread);

/*
 * The reverse of pcie_env_start(): remove the device operations, exit the
 * thread (polling it until it has exited), destroy it, and stop the thread
 * library and the env. Free controllers and fakes first.
 */
void pcie_env_stop(struct spio_thread *thread);

/*
 * Free what a case left, each only if not NULL, and set it to NULL: the
 * qpair, then the controller (detach), then the fake. With `strict`, a
 * detach that fails or a fake still open after it fails the test.
 */
void pcie_env_free_case(struct spio_nvme_qpair **qpair, struct spio_nvme_ctrlr **ctrlr,
			struct fake_pcie **fp, bool strict);

#endif
