/*
 * The fake NVMe PCIe controller's fault and held-command controls (see
 * helper_fake_pcie.h): commands held "in the device" and completed later,
 * failed, dropped or reordered completions, fatal status, surprise removal,
 * asynchronous events.
 */
#include "helper_fake_pcie_internal.h"

void fp_abort_held(struct fake_pcie *fp, int qid)
{
	uint32_t kept = 0;

	for (uint32_t i = 0; i < fp->n_held; i++) {
		if (qid < 0 || fp->held[i].qid == qid) {
			fp->st.held_aborted++;
		} else {
			fp->held[kept++] = fp->held[i];
		}
	}
	fp->n_held = kept;
}

bool fp_hold(struct fake_pcie *fp, uint16_t qid, const struct spio_nvme_cmd *cmd)
{
	struct held_cmd *h;

	if (fp->hold_count == 0 || !fault_matches(fp->hold_qid, qid) || qid == 0 ||
	    fp->n_held == MAX_HELD_CMDS) {
		return false;
	}
	fp->hold_count--;
	h = &fp->held[fp->n_held++];
	h->cmd = *cmd;
	h->qid = qid;
	h->polls = fp->hold_polls;
	fp->st.held_cmds++;
	return true;
}

uint32_t fp_run_held(struct fake_pcie *fp)
{
	uint32_t kept = 0, done = 0;

	for (uint32_t i = 0; i < fp->n_held; i++) {
		struct held_cmd h = fp->held[i];
		struct fq *sq = &fp->sq[h.qid];
		struct result r;

		if (h.polls > 0) {
			fp->held[i].polls--;
			fp->held[kept++] = fp->held[i];
			continue;
		}
		fp_execute(fp, h.qid, &h.cmd, &r);
		if (r.post && fp->cq[sq->cqid].live) {
			r.cpl.sqhd = (uint16_t)sq->head;
			fp_post_cqe(fp, sq->cqid, &r.cpl);
		}
		done++;
	}
	fp->n_held = kept;
	return done;
}

void fake_pcie_fail_next(struct fake_pcie *fp, int qid, uint8_t sct, uint8_t sc)
{
	fp->fail_armed = true;
	fp->fail_qid = qid;
	fp->fail_status = STATUS(sct, sc);
}

void fake_pcie_drop_next(struct fake_pcie *fp, int qid)
{
	fp->drop_armed = true;
	fp->drop_qid = qid;
}

void fake_pcie_hold_next(struct fake_pcie *fp, int qid, uint32_t n, uint32_t polls)
{
	fp->hold_qid = qid;
	fp->hold_count = n;
	fp->hold_polls = polls;
}

uint32_t fake_pcie_held_cmds(const struct fake_pcie *fp, int qid)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < fp->n_held; i++) {
		n += qid < 0 || fp->held[i].qid == qid;
	}
	return n;
}

bool fake_pcie_holds(const struct fake_pcie *fp, uint16_t qid, uint16_t cid)
{
	for (uint32_t i = 0; i < fp->n_held; i++) {
		if (fp->held[i].qid == qid && fp->held[i].cmd.cid == cid) {
			return true;
		}
	}
	return false;
}

void fake_pcie_reorder_next(struct fake_pcie *fp)
{
	fp->reorder_armed = true;
}

void fake_pcie_set_cfs(struct fake_pcie *fp)
{
	fp->cfs = true;
	if (fp->open && !fp->removed) {
		fp_set_csts(fp, fp->csts | 2u);
	}
}

void fake_pcie_hot_remove(struct fake_pcie *fp)
{
	fp->removed = true;
	if (fp->open) {
		memset((void *)fp->bar, 0xff, fp->bar_len);
	}
}

void fake_pcie_set_ready_delay(struct fake_pcie *fp, uint32_t polls)
{
	fp->ready_delay = polls;
}

void fake_pcie_set_open_error(struct fake_pcie *fp, int err)
{
	fp->open_err = err;
}

void fake_pcie_fire_aer(struct fake_pcie *fp, uint32_t cdw0)
{
	if (fp->n_events < MAX_PENDING_EVENTS) {
		fp->events[fp->n_events++] = cdw0;
	}
}

void fake_pcie_ns_changed(struct fake_pcie *fp, uint32_t nsid)
{
	if (fp->n_changed < FAKE_PCIE_MAX_NS) {
		fp->changed_ns[fp->n_changed++] = nsid;
	}
}
