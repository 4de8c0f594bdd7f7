/*
 * NVMe wire formats: the structures and constants of the NVM Express Base
 * Specification 2.0 (with the NVM Command Set Specification 1.0 for the
 * namespace data), NVMe over Fabrics 1.1 and the NVMe/TCP Transport
 * Specification 1.0, as a host driver, a fabrics target and an identify tool
 * put them on the wire or read them from a controller.
 *
 * Byte order: every multi-byte field is little-endian on the wire and these
 * structures are read and written in place, so the header supports
 * little-endian hosts only (x86-64, arm64); a static assertion below stops a
 * big-endian build. Bitfields rely on the LSB-first allocation that GCC and
 * Clang use on those targets.
 *
 * Layout: each structure has the spec's size and its fields sit at the spec's
 * offsets; static assertions after each one check both. Structures are
 * naturally aligned wherever the spec allows, so only the SMART / health log
 * page (a 16-bit field at offset 1) is packed.
 *
 * Flag fields: a standalone value type (a register, a feature value, a
 * completion dword) is a union of `raw` and `bits`: cc.bits.en. A flag field
 * inside an identify or log page structure is a union of `raw` and an
 * anonymous struct, so the flags are read directly: cdata->oacs.format,
 * nsdata->flbas.extended, cdata->oacs.raw. A few fields that hosts mostly
 * test against masks are plain integers with SPIO_ mask macros (oaes,
 * ctratt, sgls, fcatt, ofcs).
 *
 * Text fields are `char` arrays. Serial, model, firmware revision, TRADDR and
 * TRSVCID are space padded and carry no NUL when full; NQN fields hold a
 * NUL-terminated string of at most SPIO_NVMF_NQN_MAX_LEN bytes, NUL padded.
 *
 * Nothing here allocates, keeps state or touches threads: the two inline
 * helpers are pure functions, callable from any thread.
 */
#ifndef SPIO_NVME_SPEC_H
#define SPIO_NVME_SPEC_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	      "spio/nvme_spec.h maps NVMe's little-endian wire format onto host memory");

/* Layout checks, kept short below; undefined at the end of the header. */
#define SPIO_SPEC_SIZE(type, size) static_assert(sizeof(type) == (size), #type " size")
#define SPIO_SPEC_OFF(type, field, off) \
	static_assert(offsetof(type, field) == (off), #type "." #field " offset")

/* ---------------------------------------------------------------------- */
/* General limits                                                          */
/* ---------------------------------------------------------------------- */

/** NSID meaning "all namespaces" (or a controller-wide log page). */
#define SPIO_NVME_GLOBAL_NS_TAG ((uint32_t)0xFFFFFFFF)
/** Largest number of I/O queue pairs a controller may offer (16-bit queue ids, 0 is admin). */
#define SPIO_NVME_MAX_IO_QUEUES 65535
/** Smallest queue the spec allows (one slot always stays empty). */
#define SPIO_NVME_QUEUE_MIN_ENTRIES 2
/** Largest queue: CAP.MQES and the queue size fields are 16-bit, 0's based. */
#define SPIO_NVME_QUEUE_MAX_ENTRIES 65536
/** Largest admin queue (AQA.ASQS/ACQS are 12-bit, 0's based). */
#define SPIO_NVME_ADMIN_QUEUE_MAX_ENTRIES 4096
/** Size of every Identify data structure and of a namespace list. */
#define SPIO_NVME_IDENTIFY_BUFLEN 4096
/** Field sizes in the Identify Controller data structure. */
#define SPIO_NVME_CTRLR_SN_LEN 20
#define SPIO_NVME_CTRLR_MN_LEN 40
#define SPIO_NVME_CTRLR_FR_LEN 8
/** Size of an NQN field (NUL-padded; the NQN itself is at most SPIO_NVMF_NQN_MAX_LEN). */
#define SPIO_NVME_NQN_FIELD_SIZE 256

/* ---------------------------------------------------------------------- */
/* Controller properties (registers), NVMe Base 2.0 section 3.1.3          */
/* ---------------------------------------------------------------------- */

/** Byte offsets of the controller properties (PCIe BAR0, or Property Get/Set over fabrics). */
enum spio_nvme_reg_offset {
	SPIO_NVME_REG_CAP = 0x00,	/**< 8 bytes: controller capabilities */
	SPIO_NVME_REG_VS = 0x08,	/**< 4: version */
	SPIO_NVME_REG_INTMS = 0x0c,	/**< 4: interrupt mask set (PCIe only) */
	SPIO_NVME_REG_INTMC = 0x10,	/**< 4: interrupt mask clear (PCIe only) */
	SPIO_NVME_REG_CC = 0x14,	/**< 4: controller configuration */
	SPIO_NVME_REG_CSTS = 0x1c,	/**< 4: controller status */
	SPIO_NVME_REG_NSSR = 0x20,	/**< 4: NVM subsystem reset */
	SPIO_NVME_REG_AQA = 0x24,	/**< 4: admin queue attributes (PCIe only) */
	SPIO_NVME_REG_ASQ = 0x28,	/**< 8: admin SQ base address (PCIe only) */
	SPIO_NVME_REG_ACQ = 0x30,	/**< 8: admin CQ base address (PCIe only) */
	SPIO_NVME_REG_CMBLOC = 0x38,	/**< 4: controller memory buffer location */
	SPIO_NVME_REG_CMBSZ = 0x3c,	/**< 4: controller memory buffer size */
	SPIO_NVME_REG_BPINFO = 0x40,	/**< 4: boot partition information */
	SPIO_NVME_REG_BPRSEL = 0x44,	/**< 4: boot partition read select */
	SPIO_NVME_REG_BPMBL = 0x48,	/**< 8: boot partition memory buffer location */
	SPIO_NVME_REG_CMBMSC = 0x50,	/**< 8: CMB memory space control */
	SPIO_NVME_REG_CMBSTS = 0x58,	/**< 4: CMB status */
	SPIO_NVME_REG_CMBEBS = 0x5c,	/**< 4: CMB elasticity buffer size */
	SPIO_NVME_REG_CMBSWTP = 0x60,	/**< 4: CMB sustained write throughput */
	SPIO_NVME_REG_NSSD = 0x64,	/**< 4: NVM subsystem shutdown */
	SPIO_NVME_REG_CRTO = 0x68,	/**< 4: controller ready timeouts */
	SPIO_NVME_REG_PMRCAP = 0xe00,	/**< 4: persistent memory region capabilities */
	SPIO_NVME_REG_SQ0TDBL = 0x1000, /**< first doorbell (admin SQ tail), PCIe only */
};

/** Value written to NSSR to reset the NVM subsystem ("NVMe" in ASCII). */
#define SPIO_NVME_NSSR_VALUE 0x4E564D65u

/** CAP, Controller Capabilities (64-bit property at 0x00). */
union spio_nvme_cap_register {
	uint64_t raw;
	struct {
		uint64_t mqes : 16; /**< maximum queue entries, 0's based */
		uint64_t cqr : 1;   /**< contiguous queues required */
		uint64_t ams : 2;   /**< arbitration mechanisms supported (SPIO_NVME_CAP_AMS_*) */
		uint64_t reserved1 : 5;
		uint64_t to : 8;	/**< ready timeout, 500 ms units */
		uint64_t dstrd : 4;	/**< doorbell stride: 2^(2 + dstrd) bytes */
		uint64_t nssrs : 1;	/**< NVM subsystem reset supported */
		uint64_t css : 8;	/**< command sets supported (SPIO_NVME_CAP_CSS_*) */
		uint64_t bps : 1;	/**< boot partition support */
		uint64_t reserved2 : 2; /**< (2.0: controller power scope) */
		uint64_t mpsmin : 4;	/**< minimum memory page size: 2^(12 + mpsmin) */
		uint64_t mpsmax : 4;	/**< maximum memory page size: 2^(12 + mpsmax) */
		uint64_t pmrs : 1;	/**< persistent memory region supported */
		uint64_t cmbs : 1;	/**< controller memory buffer supported */
		uint64_t nsss : 1;	/**< NVM subsystem shutdown supported (2.0) */
		uint64_t crwms : 1;	/**< controller ready with media support (2.0) */
		uint64_t crims : 1;	/**< controller ready independent of media support (2.0) */
		uint64_t reserved3 : 3;
	} bits;
};
SPIO_SPEC_SIZE(union spio_nvme_cap_register, 8);

/** CAP.AMS: optional arbitration mechanisms (round robin is always there). */
enum spio_nvme_cap_ams {
	SPIO_NVME_CAP_AMS_WRR = 0x1, /**< weighted round robin with urgent priority */
	SPIO_NVME_CAP_AMS_VS = 0x2,  /**< vendor specific */
};

/** CAP.CSS bits: which command sets the controller supports. */
#define SPIO_NVME_CAP_CSS_NVM (1u << 0)	 /**< NVM command set */
#define SPIO_NVME_CAP_CSS_IOCS (1u << 6) /**< one or more I/O command sets (CC.CSS = 110b) */
#define SPIO_NVME_CAP_CSS_NOIO (1u << 7) /**< admin command set only */

/** VS, Version (property at 0x08); compare raw values with SPIO_NVME_VERSION(). */
union spio_nvme_vs_register {
	uint32_t raw;
	struct {
		uint32_t ter : 8;  /**< tertiary version */
		uint32_t mnr : 8;  /**< minor version */
		uint32_t mjr : 16; /**< major version */
	} bits;
};
SPIO_SPEC_SIZE(union spio_nvme_vs_register, 4);

/** Raw VS value of version mjr.mnr.ter, e.g. SPIO_NVME_VERSION(1, 4, 0) == 0x00010400. */
#define SPIO_NVME_VERSION(mjr, mnr, ter) \
	(((uint32_t)(mjr) << 16) | ((uint32_t)(mnr) << 8) | (uint32_t)(ter))

static_assert(SPIO_NVME_VERSION(1, 3, 0) == 0x00010300, "SPIO_NVME_VERSION");
static_assert(SPIO_NVME_VERSION(2, 0, 1) == 0x00020001, "SPIO_NVME_VERSION");

/** CC, Controller Configuration (property at 0x14). */
union spio_nvme_cc_register {
	uint32_t raw;
	struct {
		uint32_t en : 1; /**< enable */
		uint32_t reserved1 : 3;
		uint32_t css : 3;    /**< I/O command set selected (SPIO_NVME_CC_CSS_*) */
		uint32_t mps : 4;    /**< memory page size: 2^(12 + mps) */
		uint32_t ams : 3;    /**< arbitration mechanism selected (SPIO_NVME_CC_AMS_*) */
		uint32_t shn : 2;    /**< shutdown notification (SPIO_NVME_SHN_*) */
		uint32_t iosqes : 4; /**< I/O SQ entry size: 2^iosqes (6 for 64 bytes) */
		uint32_t iocqes : 4; /**< I/O CQ entry size: 2^iocqes (4 for 16 bytes) */
		uint32_t crime : 1;  /**< controller ready independent of media enable (2.0) */
		uint32_t reserved2 : 7;
	} bits;
};
SPIO_SPEC_SIZE(union spio_nvme_cc_register, 4);

/** CC.CSS values. */
enum spio_nvme_cc_css {
	SPIO_NVME_CC_CSS_NVM = 0x0,  /**< NVM command set */
	SPIO_NVME_CC_CSS_IOCS = 0x6, /**< all supported I/O command sets */
	SPIO_NVME_CC_CSS_NOIO = 0x7, /**< admin command set only */
};

/** CC.AMS values. */
enum spio_nvme_cc_ams {
	SPIO_NVME_CC_AMS_RR = 0x0,  /**< round robin */
	SPIO_NVME_CC_AMS_WRR = 0x1, /**< weighted round robin with urgent priority */
	SPIO_NVME_CC_AMS_VS = 0x7,  /**< vendor specific */
};

/** CC.SHN values: the shutdown the host announces. */
enum spio_nvme_shn_value {
	SPIO_NVME_SHN_NORMAL = 0x1,
	SPIO_NVME_SHN_ABRUPT = 0x2,
};

/** CSTS, Controller Status (property at 0x1c). */
union spio_nvme_csts_register {
	uint32_t raw;
	struct {
		uint32_t rdy : 1;   /**< ready */
		uint32_t cfs : 1;   /**< controller fatal status */
		uint32_t shst : 2;  /**< shutdown status (SPIO_NVME_SHST_*) */
		uint32_t nssro : 1; /**< NVM subsystem reset occurred */
		uint32_t pp : 1;    /**< processing paused */
		uint32_t st : 1;    /**< shutdown type: 1 = subsystem-wide (2.0) */
		uint32_t reserved1 : 25;
	} bits;
};
SPIO_SPEC_SIZE(union spio_nvme_csts_register, 4);

/** CSTS.SHST values. */
enum spio_nvme_shst_value {
	SPIO_NVME_SHST_NORMAL = 0x0,	/**< no shutdown requested */
	SPIO_NVME_SHST_OCCURRING = 0x1, /**< shutdown processing under way */
	SPIO_NVME_SHST_COMPLETE = 0x2,	/**< shutdown complete */
};

/** AQA, Admin Queue Attributes (property at 0x24, PCIe only). */
union spio_nvme_aqa_register {
	uint32_t raw;
	struct {
		uint32_t asqs : 12; /**< admin SQ size, 0's based */
		uint32_t reserved1 : 4;
		uint32_t acqs : 12; /**< admin CQ size, 0's based */
		uint32_t reserved2 : 4;
	} bits;
};
SPIO_SPEC_SIZE(union spio_nvme_aqa_register, 4);

/* ---------------------------------------------------------------------- */
/* Submission and completion queue entries, NVMe Base 2.0 sections 4.1-4.4 */
/* ---------------------------------------------------------------------- */

/**
 * SGL descriptor types (NVMe Base 2.0 section 4.4, SGL Descriptor Type). Over
 * NVMe/TCP a command's SGL1 is either in-capsule data (DATA_BLOCK with
 * subtype OFFSET: address = offset into the capsule's data) or a host buffer
 * the controller reaches with R2T/C2H PDUs (TRANSPORT_DATA_BLOCK with subtype
 * TRANSPORT).
 */
enum spio_nvme_sgl_descriptor_type {
	SPIO_NVME_SGL_TYPE_DATA_BLOCK = 0x0,
	SPIO_NVME_SGL_TYPE_BIT_BUCKET = 0x1,
	SPIO_NVME_SGL_TYPE_SEGMENT = 0x2,
	SPIO_NVME_SGL_TYPE_LAST_SEGMENT = 0x3,
	SPIO_NVME_SGL_TYPE_KEYED_DATA_BLOCK = 0x4,
	SPIO_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK = 0x5,
	SPIO_NVME_SGL_TYPE_VENDOR_SPECIFIC = 0xf,
};

/** SGL descriptor subtypes (how the address field is to be read). */
enum spio_nvme_sgl_descriptor_subtype {
	SPIO_NVME_SGL_SUBTYPE_ADDRESS = 0x0,   /**< a memory address */
	SPIO_NVME_SGL_SUBTYPE_OFFSET = 0x1,    /**< an offset (in-capsule data on fabrics) */
	SPIO_NVME_SGL_SUBTYPE_TRANSPORT = 0xa, /**< transport specific (NVMe/TCP host buffer) */
	SPIO_NVME_SGL_SUBTYPE_INVALIDATE_KEY = 0xf, /**< keyed: invalidate the key (RDMA) */
};

/**
 * One SGL descriptor, 16 bytes (NVMe Base 2.0 section 4.4). The identifier
 * byte (type in the high nibble, subtype in the low one) is byte 15 in every
 * form, so `generic` reads it whatever the type.
 */
struct spio_nvme_sgl_descriptor {
	uint64_t address;
	union {
		struct {
			uint32_t length;
			uint8_t reserved[3];
			uint8_t subtype : 4;
			uint8_t type : 4;
		} unkeyed;
		struct {
			uint64_t length : 24;
			uint64_t key : 32;
			uint64_t subtype : 4;
			uint64_t type : 4;
		} keyed;
		struct {
			uint8_t reserved[7];
			uint8_t subtype : 4;
			uint8_t type : 4;
		} generic;
	};
};
SPIO_SPEC_SIZE(struct spio_nvme_sgl_descriptor, 16);
SPIO_SPEC_OFF(struct spio_nvme_sgl_descriptor, address, 0);
SPIO_SPEC_OFF(struct spio_nvme_sgl_descriptor, unkeyed.length, 8);

/** PSDT: how the command's data pointer is to be read. */
enum spio_nvme_psdt_value {
	SPIO_NVME_PSDT_PRP = 0x0,	      /**< PRP1/PRP2 */
	SPIO_NVME_PSDT_SGL_MPTR_CONTIG = 0x1, /**< SGL; MPTR is one contiguous buffer */
	SPIO_NVME_PSDT_SGL_MPTR_SGL = 0x2,    /**< SGL; MPTR points to an SGL descriptor */
};

/** FUSE: fused operation (compare and write). */
enum spio_nvme_cmd_fuse {
	SPIO_NVME_CMD_FUSE_NONE = 0x0,
	SPIO_NVME_CMD_FUSE_FIRST = 0x1,
	SPIO_NVME_CMD_FUSE_SECOND = 0x2,
};

/** Command dword 10, per command (NVMe Base 2.0 section 5, NVM Command Set 1.0 section 3). */
union spio_nvme_cmd_cdw10 {
	uint32_t raw;
	struct {
		uint32_t cns : 8; /**< SPIO_NVME_IDENTIFY_* */
		uint32_t reserved : 8;
		uint32_t cntid : 16; /**< controller id (controller lists) */
	} identify;
	struct {
		uint32_t lid : 8;    /**< log page id (SPIO_NVME_LOG_*) */
		uint32_t lsp : 7;    /**< log specific field */
		uint32_t rae : 1;    /**< retain asynchronous event */
		uint32_t numdl : 16; /**< dwords to read, 0's based, low 16 bits */
	} get_log_page;
	struct {
		uint32_t sqid : 16;
		uint32_t cid : 16;
	} abort;
	struct {
		uint32_t qid : 16;
		uint32_t qsize : 16; /**< 0's based */
	} create_io_q;
	struct {
		uint32_t qid : 16;
		uint32_t reserved : 16;
	} delete_io_q;
	struct {
		uint32_t fid : 8; /**< SPIO_NVME_FEAT_* */
		uint32_t sel : 3; /**< SPIO_NVME_FEAT_SEL_* */
		uint32_t reserved : 21;
	} get_features;
	struct {
		uint32_t fid : 8;
		uint32_t reserved : 23;
		uint32_t sv : 1; /**< save across power cycles */
	} set_features;
	struct {
		uint32_t sel : 4; /**< 0 attach, 1 detach */
		uint32_t reserved : 28;
	} ns_attach;
	struct {
		uint32_t nr : 8; /**< number of ranges, 0's based */
		uint32_t reserved : 24;
	} dsm;
};
SPIO_SPEC_SIZE(union spio_nvme_cmd_cdw10, 4);

/** Command dword 11, per command. */
union spio_nvme_cmd_cdw11 {
	uint32_t raw;
	struct {
		uint32_t cns_specific_id : 16; /**< e.g. NVM set id */
		uint32_t reserved : 8;
		uint32_t csi : 8; /**< command set identifier (SPIO_NVME_CSI_*) */
	} identify;
	struct {
		uint32_t numdu : 16; /**< dwords to read, high 16 bits */
		uint32_t lsi : 16;   /**< log specific identifier */
	} get_log_page;
	struct {
		uint32_t pc : 1;    /**< physically contiguous */
		uint32_t qprio : 2; /**< queue priority for WRR */
		uint32_t reserved : 13;
		uint32_t cqid : 16;
	} create_io_sq;
	struct {
		uint32_t pc : 1;  /**< physically contiguous */
		uint32_t ien : 1; /**< interrupts enabled */
		uint32_t reserved : 14;
		uint32_t iv : 16; /**< interrupt vector */
	} create_io_cq;
	struct {
		uint32_t idr : 1; /**< integral dataset for read */
		uint32_t idw : 1; /**< integral dataset for write */
		uint32_t ad : 1;  /**< deallocate */
		uint32_t reserved : 29;
	} dsm;
};
SPIO_SPEC_SIZE(union spio_nvme_cmd_cdw11, 4);

/** Command dword 12, per command. */
union spio_nvme_cmd_cdw12 {
	uint32_t raw;
	struct {
		uint32_t nlb : 16; /**< number of logical blocks, 0's based */
		uint32_t reserved : 4;
		uint32_t dtype : 4; /**< directive type */
		uint32_t stc : 1;   /**< storage tag check */
		uint32_t reserved2 : 1;
		uint32_t prchk : 3; /**< protection information check */
		uint32_t pract : 1; /**< protection information action */
		uint32_t fua : 1;   /**< force unit access */
		uint32_t lr : 1;    /**< limited retry */
	} rw;
	struct {
		uint32_t nlb : 16;
		uint32_t reserved : 8;
		uint32_t stc : 1;
		uint32_t deac : 1; /**< deallocate */
		uint32_t prchk : 3;
		uint32_t pract : 1;
		uint32_t fua : 1;
		uint32_t lr : 1;
	} write_zeroes;
};
SPIO_SPEC_SIZE(union spio_nvme_cmd_cdw12, 4);

/**
 * Submission queue entry, 64 bytes (NVMe Base 2.0 section 4.1). Fabrics
 * commands (opc SPIO_NVME_OPC_FABRIC) use the same 64 bytes with the layouts
 * of struct spio_nvmf_capsule_cmd and friends below.
 */
struct spio_nvme_cmd {
	/* dword 0 */
	uint16_t opc : 8;  /**< opcode */
	uint16_t fuse : 2; /**< SPIO_NVME_CMD_FUSE_* */
	uint16_t rsvd1 : 4;
	uint16_t psdt : 2; /**< SPIO_NVME_PSDT_* (always SGL over fabrics) */
	uint16_t cid;	   /**< command identifier */
	/* dword 1 */
	uint32_t nsid;
	/* dwords 2-3: command specific in some commands, reserved in most */
	union {
		uint32_t rsvd2;
		uint32_t cdw2;
	};
	union {
		uint32_t rsvd3;
		uint32_t cdw3;
	};
	/* dwords 4-5 */
	uint64_t mptr; /**< metadata pointer */
	/* dwords 6-9 */
	union {
		struct {
			uint64_t prp1;
			uint64_t prp2;
		} prp;
		struct spio_nvme_sgl_descriptor sgl1;
	} dptr;
	/* dwords 10-15, command specific */
	union {
		uint32_t cdw10;
		union spio_nvme_cmd_cdw10 cdw10_bits;
	};
	union {
		uint32_t cdw11;
		union spio_nvme_cmd_cdw11 cdw11_bits;
	};
	union {
		uint32_t cdw12;
		union spio_nvme_cmd_cdw12 cdw12_bits;
	};
	uint32_t cdw13;
	uint32_t cdw14;
	uint32_t cdw15;
};
SPIO_SPEC_SIZE(struct spio_nvme_cmd, 64);
SPIO_SPEC_OFF(struct spio_nvme_cmd, cid, 2);
SPIO_SPEC_OFF(struct spio_nvme_cmd, nsid, 4);
SPIO_SPEC_OFF(struct spio_nvme_cmd, rsvd2, 8);
SPIO_SPEC_OFF(struct spio_nvme_cmd, rsvd3, 12);
SPIO_SPEC_OFF(struct spio_nvme_cmd, mptr, 16);
SPIO_SPEC_OFF(struct spio_nvme_cmd, dptr, 24);
SPIO_SPEC_OFF(struct spio_nvme_cmd, dptr.prp.prp2, 32);
SPIO_SPEC_OFF(struct spio_nvme_cmd, cdw10, 40);
SPIO_SPEC_OFF(struct spio_nvme_cmd, cdw11, 44);
SPIO_SPEC_OFF(struct spio_nvme_cmd, cdw12, 48);
SPIO_SPEC_OFF(struct spio_nvme_cmd, cdw13, 52);
SPIO_SPEC_OFF(struct spio_nvme_cmd, cdw14, 56);
SPIO_SPEC_OFF(struct spio_nvme_cmd, cdw15, 60);

/**
 * Completion status field, 16 bits (NVMe Base 2.0 section 4.2.3): the phase
 * tag in bit 0, then the status proper.
 */
struct spio_nvme_status {
	uint16_t p : 1;	  /**< phase tag */
	uint16_t sc : 8;  /**< status code (meaning depends on sct) */
	uint16_t sct : 3; /**< status code type (enum spio_nvme_sct) */
	uint16_t crd : 2; /**< command retry delay (index into CRDT1-3) */
	uint16_t m : 1;	  /**< more: the error log page has details */
	uint16_t dnr : 1; /**< do not retry */
};
SPIO_SPEC_SIZE(struct spio_nvme_status, 2);

/** Completion queue entry, 16 bytes (NVMe Base 2.0 section 4.2). */
struct spio_nvme_cpl {
	uint32_t cdw0; /**< command specific */
	uint32_t cdw1; /**< command specific */
	uint16_t sqhd; /**< SQ head pointer */
	uint16_t sqid; /**< SQ identifier */
	uint16_t cid;  /**< command identifier */
	union {
		uint16_t status_raw;
		struct spio_nvme_status status;
	};
};
SPIO_SPEC_SIZE(struct spio_nvme_cpl, 16);
SPIO_SPEC_OFF(struct spio_nvme_cpl, cdw1, 4);
SPIO_SPEC_OFF(struct spio_nvme_cpl, sqhd, 8);
SPIO_SPEC_OFF(struct spio_nvme_cpl, sqid, 10);
SPIO_SPEC_OFF(struct spio_nvme_cpl, cid, 12);
SPIO_SPEC_OFF(struct spio_nvme_cpl, status_raw, 14);

/** Status code types (status.sct). */
enum spio_nvme_sct {
	SPIO_NVME_SCT_GENERIC = 0x0,
	SPIO_NVME_SCT_COMMAND_SPECIFIC = 0x1,
	SPIO_NVME_SCT_MEDIA_ERROR = 0x2,
	SPIO_NVME_SCT_PATH = 0x3,
	SPIO_NVME_SCT_VENDOR_SPECIFIC = 0x7,
};

/** Generic command status codes (sct 0), NVMe Base 2.0 section 4.2.3.1 and NVM Command Set. */
enum spio_nvme_generic_status_code {
	SPIO_NVME_SC_SUCCESS = 0x00,
	SPIO_NVME_SC_INVALID_OPCODE = 0x01,
	SPIO_NVME_SC_INVALID_FIELD = 0x02,
	SPIO_NVME_SC_COMMAND_ID_CONFLICT = 0x03,
	SPIO_NVME_SC_DATA_TRANSFER_ERROR = 0x04,
	SPIO_NVME_SC_ABORTED_POWER_LOSS = 0x05,
	SPIO_NVME_SC_INTERNAL_DEVICE_ERROR = 0x06,
	SPIO_NVME_SC_ABORTED_BY_REQUEST = 0x07,
	SPIO_NVME_SC_ABORTED_SQ_DELETION = 0x08,
	SPIO_NVME_SC_ABORTED_FAILED_FUSED = 0x09,
	SPIO_NVME_SC_ABORTED_MISSING_FUSED = 0x0a,
	SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT = 0x0b,
	SPIO_NVME_SC_COMMAND_SEQUENCE_ERROR = 0x0c,
	SPIO_NVME_SC_INVALID_SGL_SEG_DESCRIPTOR = 0x0d,
	SPIO_NVME_SC_INVALID_NUM_SGL_DESCRIPTORS = 0x0e,
	SPIO_NVME_SC_DATA_SGL_LENGTH_INVALID = 0x0f,
	SPIO_NVME_SC_METADATA_SGL_LENGTH_INVALID = 0x10,
	SPIO_NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID = 0x11,
	SPIO_NVME_SC_INVALID_CONTROLLER_MEM_BUF = 0x12,
	SPIO_NVME_SC_INVALID_PRP_OFFSET = 0x13,
	SPIO_NVME_SC_ATOMIC_WRITE_UNIT_EXCEEDED = 0x14,
	SPIO_NVME_SC_OPERATION_DENIED = 0x15,
	SPIO_NVME_SC_INVALID_SGL_OFFSET = 0x16,
	SPIO_NVME_SC_HOSTID_INCONSISTENT_FORMAT = 0x18,
	SPIO_NVME_SC_KEEP_ALIVE_EXPIRED = 0x19,
	SPIO_NVME_SC_KEEP_ALIVE_INVALID = 0x1a,
	SPIO_NVME_SC_ABORTED_PREEMPT = 0x1b,
	SPIO_NVME_SC_SANITIZE_FAILED = 0x1c,
	SPIO_NVME_SC_SANITIZE_IN_PROGRESS = 0x1d,
	SPIO_NVME_SC_SGL_DATA_BLOCK_GRANULARITY_INVALID = 0x1e,
	SPIO_NVME_SC_COMMAND_INVALID_IN_CMB = 0x1f,
	SPIO_NVME_SC_NAMESPACE_IS_WRITE_PROTECTED = 0x20,
	SPIO_NVME_SC_COMMAND_INTERRUPTED = 0x21,
	SPIO_NVME_SC_COMMAND_TRANSIENT_TRANSPORT_ERROR = 0x22,
	SPIO_NVME_SC_COMMAND_PROHIBITED_BY_LOCKDOWN = 0x23,
	SPIO_NVME_SC_ADMIN_COMMAND_MEDIA_NOT_READY = 0x24,
	/* 0x80-0xbf: I/O command set specific */
	SPIO_NVME_SC_LBA_OUT_OF_RANGE = 0x80,
	SPIO_NVME_SC_CAPACITY_EXCEEDED = 0x81,
	SPIO_NVME_SC_NAMESPACE_NOT_READY = 0x82,
	SPIO_NVME_SC_RESERVATION_CONFLICT = 0x83,
	SPIO_NVME_SC_FORMAT_IN_PROGRESS = 0x84,
};

/** Command specific status codes (sct 1), NVMe Base 2.0 section 4.2.3.2 and NVM Command Set. */
enum spio_nvme_command_specific_status_code {
	SPIO_NVME_SC_COMPLETION_QUEUE_INVALID = 0x00,
	SPIO_NVME_SC_INVALID_QUEUE_IDENTIFIER = 0x01,
	SPIO_NVME_SC_INVALID_QUEUE_SIZE = 0x02,
	SPIO_NVME_SC_ABORT_COMMAND_LIMIT_EXCEEDED = 0x03,
	SPIO_NVME_SC_ASYNC_EVENT_REQUEST_LIMIT_EXCEEDED = 0x05,
	SPIO_NVME_SC_INVALID_FIRMWARE_SLOT = 0x06,
	SPIO_NVME_SC_INVALID_FIRMWARE_IMAGE = 0x07,
	SPIO_NVME_SC_INVALID_INTERRUPT_VECTOR = 0x08,
	SPIO_NVME_SC_INVALID_LOG_PAGE = 0x09,
	SPIO_NVME_SC_INVALID_FORMAT = 0x0a,
	SPIO_NVME_SC_FIRMWARE_REQ_CONVENTIONAL_RESET = 0x0b,
	SPIO_NVME_SC_INVALID_QUEUE_DELETION = 0x0c,
	SPIO_NVME_SC_FEATURE_ID_NOT_SAVEABLE = 0x0d,
	SPIO_NVME_SC_FEATURE_NOT_CHANGEABLE = 0x0e,
	SPIO_NVME_SC_FEATURE_NOT_NAMESPACE_SPECIFIC = 0x0f,
	SPIO_NVME_SC_FIRMWARE_REQ_NVM_RESET = 0x10,
	SPIO_NVME_SC_FIRMWARE_REQ_RESET = 0x11,
	SPIO_NVME_SC_FIRMWARE_REQ_MAX_TIME_VIOLATION = 0x12,
	SPIO_NVME_SC_FIRMWARE_ACTIVATION_PROHIBITED = 0x13,
	SPIO_NVME_SC_OVERLAPPING_RANGE = 0x14,
	SPIO_NVME_SC_NAMESPACE_INSUFFICIENT_CAPACITY = 0x15,
	SPIO_NVME_SC_NAMESPACE_ID_UNAVAILABLE = 0x16,
	SPIO_NVME_SC_NAMESPACE_ALREADY_ATTACHED = 0x18,
	SPIO_NVME_SC_NAMESPACE_IS_PRIVATE = 0x19,
	SPIO_NVME_SC_NAMESPACE_NOT_ATTACHED = 0x1a,
	SPIO_NVME_SC_THIN_PROVISIONING_NOT_SUPPORTED = 0x1b,
	SPIO_NVME_SC_INVALID_CONTROLLER_LIST = 0x1c,
	SPIO_NVME_SC_DEVICE_SELF_TEST_IN_PROGRESS = 0x1d,
	SPIO_NVME_SC_BOOT_PARTITION_WRITE_PROHIBITED = 0x1e,
	SPIO_NVME_SC_INVALID_CTRLR_ID = 0x1f,
	SPIO_NVME_SC_INVALID_SECONDARY_CTRLR_STATE = 0x20,
	SPIO_NVME_SC_INVALID_NUM_CTRLR_RESOURCES = 0x21,
	SPIO_NVME_SC_INVALID_RESOURCE_ID = 0x22,
	SPIO_NVME_SC_SANITIZE_PROHIBITED = 0x23,
	SPIO_NVME_SC_ANA_GROUP_IDENTIFIER_INVALID = 0x24,
	SPIO_NVME_SC_ANA_ATTACH_FAILED = 0x25,
	/* 0x80-0xbf: I/O command set specific */
	SPIO_NVME_SC_CONFLICTING_ATTRIBUTES = 0x80,
	SPIO_NVME_SC_INVALID_PROTECTION_INFO = 0x81,
	SPIO_NVME_SC_ATTEMPTED_WRITE_TO_RO_RANGE = 0x82,
	SPIO_NVME_SC_COMMAND_SIZE_LIMIT_EXCEEDED = 0x83,
};

/** Media and data integrity error codes (sct 2), NVMe Base 2.0 section 4.2.3.3. */
enum spio_nvme_media_error_status_code {
	SPIO_NVME_SC_WRITE_FAULTS = 0x80,
	SPIO_NVME_SC_UNRECOVERED_READ_ERROR = 0x81,
	SPIO_NVME_SC_GUARD_CHECK_ERROR = 0x82,
	SPIO_NVME_SC_APPLICATION_TAG_CHECK_ERROR = 0x83,
	SPIO_NVME_SC_REFERENCE_TAG_CHECK_ERROR = 0x84,
	SPIO_NVME_SC_COMPARE_FAILURE = 0x85,
	SPIO_NVME_SC_ACCESS_DENIED = 0x86,
	SPIO_NVME_SC_DEALLOCATED_OR_UNWRITTEN_BLOCK = 0x87,
	SPIO_NVME_SC_END_TO_END_STORAGE_TAG_CHECK_ERROR = 0x88,
};

/** Path related status codes (sct 3), NVMe Base 2.0 section 4.2.3.4. */
enum spio_nvme_path_status_code {
	SPIO_NVME_SC_INTERNAL_PATH_ERROR = 0x00,
	SPIO_NVME_SC_ASYMMETRIC_ACCESS_PERSISTENT_LOSS = 0x01,
	SPIO_NVME_SC_ASYMMETRIC_ACCESS_INACCESSIBLE = 0x02,
	SPIO_NVME_SC_ASYMMETRIC_ACCESS_TRANSITION = 0x03,
	SPIO_NVME_SC_CONTROLLER_PATH_ERROR = 0x60,
	SPIO_NVME_SC_HOST_PATH_ERROR = 0x70,
	SPIO_NVME_SC_ABORTED_BY_HOST = 0x71,
};

/**
 * Command specific status codes of the fabrics Connect (and Discovery Get Log
 * Page) commands, sct 1 (NVMe over Fabrics 1.1, Connect response).
 */
enum spio_nvmf_fabric_cmd_status_code {
	SPIO_NVMF_FABRIC_SC_INCOMPATIBLE_FORMAT = 0x80,
	SPIO_NVMF_FABRIC_SC_CONTROLLER_BUSY = 0x81,
	SPIO_NVMF_FABRIC_SC_INVALID_PARAM = 0x82,
	SPIO_NVMF_FABRIC_SC_RESTART_DISCOVERY = 0x83,
	SPIO_NVMF_FABRIC_SC_INVALID_HOST = 0x84,
	SPIO_NVMF_FABRIC_SC_INVALID_QUEUE_TYPE = 0x85,
	SPIO_NVMF_FABRIC_SC_LOG_RESTART_DISCOVERY = 0x90,
	SPIO_NVMF_FABRIC_SC_AUTH_REQUIRED = 0x91,
};

/* ---------------------------------------------------------------------- */
/* Opcodes                                                                 */
/* ---------------------------------------------------------------------- */

/** Admin command set opcodes (NVMe Base 2.0 section 5). */
enum spio_nvme_admin_opcode {
	SPIO_NVME_OPC_DELETE_IO_SQ = 0x00,
	SPIO_NVME_OPC_CREATE_IO_SQ = 0x01,
	SPIO_NVME_OPC_GET_LOG_PAGE = 0x02,
	SPIO_NVME_OPC_DELETE_IO_CQ = 0x04,
	SPIO_NVME_OPC_CREATE_IO_CQ = 0x05,
	SPIO_NVME_OPC_IDENTIFY = 0x06,
	SPIO_NVME_OPC_ABORT = 0x08,
	SPIO_NVME_OPC_SET_FEATURES = 0x09,
	SPIO_NVME_OPC_GET_FEATURES = 0x0a,
	SPIO_NVME_OPC_ASYNC_EVENT_REQUEST = 0x0c,
	SPIO_NVME_OPC_NS_MANAGEMENT = 0x0d,
	SPIO_NVME_OPC_FIRMWARE_COMMIT = 0x10,
	SPIO_NVME_OPC_FIRMWARE_IMAGE_DOWNLOAD = 0x11,
	SPIO_NVME_OPC_DEVICE_SELF_TEST = 0x14,
	SPIO_NVME_OPC_NS_ATTACHMENT = 0x15,
	SPIO_NVME_OPC_KEEP_ALIVE = 0x18,
	SPIO_NVME_OPC_DIRECTIVE_SEND = 0x19,
	SPIO_NVME_OPC_DIRECTIVE_RECEIVE = 0x1a,
	SPIO_NVME_OPC_VIRTUALIZATION_MANAGEMENT = 0x1c,
	SPIO_NVME_OPC_NVME_MI_SEND = 0x1d,
	SPIO_NVME_OPC_NVME_MI_RECEIVE = 0x1e,
	SPIO_NVME_OPC_DOORBELL_BUFFER_CONFIG = 0x7c,
	/** Fabrics command: cmd.fctype (enum spio_nvmf_fabric_cmd_types) says which. */
	SPIO_NVME_OPC_FABRIC = 0x7f,
	SPIO_NVME_OPC_FORMAT_NVM = 0x80,
	SPIO_NVME_OPC_SECURITY_SEND = 0x81,
	SPIO_NVME_OPC_SECURITY_RECEIVE = 0x82,
	SPIO_NVME_OPC_SANITIZE = 0x84,
	SPIO_NVME_OPC_GET_LBA_STATUS = 0x86,
	SPIO_NVME_OPC_VENDOR_SPECIFIC_START = 0xc0,
};

/**
 * NVM command set I/O opcodes (NVM Command Set 1.0 section 3). They overlap
 * the admin opcodes numerically; the queue a command is on says which applies.
 */
enum spio_nvme_nvm_opcode {
	SPIO_NVME_OPC_FLUSH = 0x00,
	SPIO_NVME_OPC_WRITE = 0x01,
	SPIO_NVME_OPC_READ = 0x02,
	SPIO_NVME_OPC_WRITE_UNCORRECTABLE = 0x04,
	SPIO_NVME_OPC_COMPARE = 0x05,
	SPIO_NVME_OPC_WRITE_ZEROES = 0x08,
	SPIO_NVME_OPC_DATASET_MANAGEMENT = 0x09,
	SPIO_NVME_OPC_VERIFY = 0x0c,
	SPIO_NVME_OPC_RESERVATION_REGISTER = 0x0d,
	SPIO_NVME_OPC_RESERVATION_REPORT = 0x0e,
	SPIO_NVME_OPC_RESERVATION_ACQUIRE = 0x11,
	SPIO_NVME_OPC_RESERVATION_RELEASE = 0x15,
	SPIO_NVME_OPC_COPY = 0x19,
};

/** Data transfer direction, bits 1:0 of every opcode (NVMe Base 2.0 section 5, opcode tables). */
enum spio_nvme_data_transfer {
	SPIO_NVME_DATA_NONE = 0,
	SPIO_NVME_DATA_HOST_TO_CONTROLLER = 1,
	SPIO_NVME_DATA_CONTROLLER_TO_HOST = 2,
	SPIO_NVME_DATA_BIDIRECTIONAL = 3,
};

/**
 * Data transfer direction of an opcode (admin, I/O or fabrics: all follow the
 * rule; for fabrics commands the direction is in bits 1:0 of fctype).
 *
 * \param opc the command's opcode.
 * \return opc bits 1:0 as enum spio_nvme_data_transfer. Pure, any thread.
 */
static inline enum spio_nvme_data_transfer spio_nvme_opc_get_data_transfer(uint8_t opc)
{
	return (enum spio_nvme_data_transfer)(opc & 3);
}

/* ---------------------------------------------------------------------- */
/* Dataset Management (NVM Command Set 1.0, Dataset Management command)    */
/* ---------------------------------------------------------------------- */

/** cdw11 attribute bits of Dataset Management. */
#define SPIO_NVME_DSM_ATTR_INTEGRAL_READ (1u << 0)
#define SPIO_NVME_DSM_ATTR_INTEGRAL_WRITE (1u << 1)
#define SPIO_NVME_DSM_ATTR_DEALLOCATE (1u << 2)

/** Most ranges one Dataset Management command carries (cdw10.nr is 8-bit, 0's based). */
#define SPIO_NVME_DATASET_MANAGEMENT_MAX_RANGES 256

/** One Dataset Management range, 16 bytes. */
struct spio_nvme_dsm_range {
	uint32_t attributes; /**< context attributes (access frequency, latency, ...) */
	uint32_t length;     /**< logical blocks (not 0's based) */
	uint64_t starting_lba;
};
SPIO_SPEC_SIZE(struct spio_nvme_dsm_range, 16);
SPIO_SPEC_OFF(struct spio_nvme_dsm_range, length, 4);
SPIO_SPEC_OFF(struct spio_nvme_dsm_range, starting_lba, 8);

/* ---------------------------------------------------------------------- */
/* Identify (NVMe Base 2.0 section 5.17)                                   */
/* ---------------------------------------------------------------------- */

/** Identify CNS values (cdw10.cns): which data structure to return. */
enum spio_nvme_identify_cns {
	SPIO_NVME_IDENTIFY_NS = 0x00,			 /**< namespace (nsid) */
	SPIO_NVME_IDENTIFY_CTRLR = 0x01,		 /**< controller */
	SPIO_NVME_IDENTIFY_ACTIVE_NS_LIST = 0x02,	 /**< active nsids above nsid */
	SPIO_NVME_IDENTIFY_NS_ID_DESCRIPTOR_LIST = 0x03, /**< identification descriptors */
	SPIO_NVME_IDENTIFY_NVM_SET_LIST = 0x04,
	SPIO_NVME_IDENTIFY_NS_IOCS = 0x05,    /**< namespace, command set csi */
	SPIO_NVME_IDENTIFY_CTRLR_IOCS = 0x06, /**< controller, command set csi */
	SPIO_NVME_IDENTIFY_ACTIVE_NS_LIST_IOCS = 0x07,
	SPIO_NVME_IDENTIFY_NS_IOCS_INDEPENDENT = 0x08,
	SPIO_NVME_IDENTIFY_ALLOCATED_NS_LIST = 0x10,
	SPIO_NVME_IDENTIFY_NS_ALLOCATED = 0x11,
	SPIO_NVME_IDENTIFY_NS_ATTACHED_CTRLR_LIST = 0x12,
	SPIO_NVME_IDENTIFY_CTRLR_LIST = 0x13,
	SPIO_NVME_IDENTIFY_PRIMARY_CTRLR_CAP = 0x14,
	SPIO_NVME_IDENTIFY_SECONDARY_CTRLR_LIST = 0x15,
	SPIO_NVME_IDENTIFY_NS_GRANULARITY_LIST = 0x16,
	SPIO_NVME_IDENTIFY_UUID_LIST = 0x17,
	SPIO_NVME_IDENTIFY_DOMAIN_LIST = 0x18,
	SPIO_NVME_IDENTIFY_ENDURANCE_GROUP_LIST = 0x19,
	SPIO_NVME_IDENTIFY_ALLOCATED_NS_LIST_IOCS = 0x1a,
	SPIO_NVME_IDENTIFY_NS_ALLOCATED_IOCS = 0x1b,
	SPIO_NVME_IDENTIFY_IOCS = 0x1c,
};

/** Command set identifiers (CSI), NVMe Base 2.0. */
enum spio_nvme_csi {
	SPIO_NVME_CSI_NVM = 0x0,
	SPIO_NVME_CSI_KV = 0x1,
	SPIO_NVME_CSI_ZNS = 0x2,
};

/** Power state descriptor, 32 bytes (NVMe Base 2.0, Identify Controller bytes 2048+). */
struct spio_nvme_power_state {
	uint16_t mp; /**< maximum power, units per mps */
	uint8_t reserved1;
	uint8_t mps : 1;  /**< max power scale: 0 = 0.01 W, 1 = 0.0001 W (spec: MXPS) */
	uint8_t nops : 1; /**< non-operational state */
	uint8_t reserved2 : 6;
	uint32_t enlat;	 /**< entry latency, microseconds */
	uint32_t exlat;	 /**< exit latency, microseconds */
	uint8_t rrt : 5; /**< relative read throughput */
	uint8_t reserved3 : 3;
	uint8_t rrl : 5; /**< relative read latency */
	uint8_t reserved4 : 3;
	uint8_t rwt : 5; /**< relative write throughput */
	uint8_t reserved5 : 3;
	uint8_t rwl : 5; /**< relative write latency */
	uint8_t reserved6 : 3;
	uint16_t idlp; /**< idle power */
	uint8_t reserved7 : 6;
	uint8_t ips : 2; /**< idle power scale */
	uint8_t reserved8;
	uint16_t actp;	 /**< active power */
	uint8_t apw : 3; /**< active power workload */
	uint8_t reserved9 : 3;
	uint8_t aps : 2; /**< active power scale */
	uint8_t reserved10[9];
};
SPIO_SPEC_SIZE(struct spio_nvme_power_state, 32);
SPIO_SPEC_OFF(struct spio_nvme_power_state, enlat, 4);
SPIO_SPEC_OFF(struct spio_nvme_power_state, exlat, 8);
SPIO_SPEC_OFF(struct spio_nvme_power_state, idlp, 16);
SPIO_SPEC_OFF(struct spio_nvme_power_state, actp, 20);
SPIO_SPEC_OFF(struct spio_nvme_power_state, reserved10, 23);

/** Identify Controller oaes (plain uint32_t) bits: notices the controller can send. */
#define SPIO_NVME_OAES_NS_ATTRIBUTE_NOTICES (1u << 8)
#define SPIO_NVME_OAES_FW_ACTIVATION_NOTICES (1u << 9)
#define SPIO_NVME_OAES_ANA_CHANGE_NOTICES (1u << 11)
#define SPIO_NVME_OAES_PLEAL_CHANGE_NOTICES (1u << 12) /**< predictable latency aggregate */
#define SPIO_NVME_OAES_LBA_SIA_NOTICES (1u << 13)      /**< LBA status information alert */
#define SPIO_NVME_OAES_EGEAL_CHANGE_NOTICES (1u << 14) /**< endurance group aggregate */
#define SPIO_NVME_OAES_NORMAL_NVM_SHUTDOWN (1u << 15)
#define SPIO_NVME_OAES_DISCOVERY_LOG_CHANGE_NOTICES (1u << 31)

/** Identify Controller ctratt (plain uint32_t) bits. */
#define SPIO_NVME_CTRATT_HOST_ID_128 (1u << 0) /**< 128-bit host identifier */
#define SPIO_NVME_CTRATT_NOPSPM (1u << 1)      /**< non-operational power state permissive */
#define SPIO_NVME_CTRATT_NVM_SETS (1u << 2)
#define SPIO_NVME_CTRATT_READ_RECOVERY_LEVELS (1u << 3)
#define SPIO_NVME_CTRATT_ENDURANCE_GROUPS (1u << 4)
#define SPIO_NVME_CTRATT_PREDICTABLE_LATENCY (1u << 5)
#define SPIO_NVME_CTRATT_TBKAS (1u << 6) /**< traffic based keep alive */
#define SPIO_NVME_CTRATT_NS_GRANULARITY (1u << 7)
#define SPIO_NVME_CTRATT_SQ_ASSOCIATIONS (1u << 8)
#define SPIO_NVME_CTRATT_UUID_LIST (1u << 9)
#define SPIO_NVME_CTRATT_MULTI_DOMAIN (1u << 10)
#define SPIO_NVME_CTRATT_FIXED_CAPACITY (1u << 11)
#define SPIO_NVME_CTRATT_VARIABLE_CAPACITY (1u << 12)
#define SPIO_NVME_CTRATT_DELETE_ENDURANCE_GROUP (1u << 13)
#define SPIO_NVME_CTRATT_DELETE_NVM_SET (1u << 14)
#define SPIO_NVME_CTRATT_EXTENDED_LBA_FORMATS (1u << 15)

/** Identify Controller sgls (plain uint32_t): SGL support bits 1:0 and feature bits. */
#define SPIO_NVME_SGLS_SUPPORT_MASK 0x3u  /**< 0: no SGLs */
#define SPIO_NVME_SGLS_SUPPORTED 0x1u	  /**< any alignment */
#define SPIO_NVME_SGLS_DWORD_ALIGNED 0x2u /**< dword alignment and granularity */
#define SPIO_NVME_SGLS_KEYED (1u << 2)	  /**< keyed SGL data block descriptor */
#define SPIO_NVME_SGLS_BIT_BUCKET (1u << 16)
#define SPIO_NVME_SGLS_METADATA_BYTE_ALIGNED (1u << 17)
#define SPIO_NVME_SGLS_OVERSIZED (1u << 18) /**< SGL longer than the data is allowed */
#define SPIO_NVME_SGLS_MPTR_SGL (1u << 19)  /**< MPTR may hold one SGL descriptor */
#define SPIO_NVME_SGLS_OFFSET (1u << 20)    /**< address as offset (in-capsule data) */
#define SPIO_NVME_SGLS_TRANSPORT (1u << 21) /**< transport SGL data block */

/** Identify Controller vwc.flush_broadcast values. */
enum spio_nvme_flush_broadcast {
	SPIO_NVME_FLUSH_BROADCAST_NOT_INDICATED = 0,
	SPIO_NVME_FLUSH_BROADCAST_NOT_SUPPORTED = 2,
	SPIO_NVME_FLUSH_BROADCAST_SUPPORTED = 3,
};

/** Identify Controller cntrltype values. */
enum spio_nvme_ctrlr_type {
	SPIO_NVME_CTRLR_TYPE_NOT_REPORTED = 0,
	SPIO_NVME_CTRLR_TYPE_IO = 1,
	SPIO_NVME_CTRLR_TYPE_DISCOVERY = 2,
	SPIO_NVME_CTRLR_TYPE_ADMIN = 3,
};

/** Identify Controller fcatt bit 0: 1 = static controller model, 0 = dynamic. */
#define SPIO_NVME_FCATT_STATIC_MODEL (1u << 0)
/** Identify Controller ofcs bit 0: Disconnect command and I/O queue deletion supported. */
#define SPIO_NVME_OFCS_DISCONNECT (1u << 0)

/**
 * Identify Controller data structure, CNS 01h, 4096 bytes (NVMe Base 2.0
 * section 5.17.2.1). Bytes 1792-2047 are the NVMe over Fabrics fields.
 */
struct spio_nvme_ctrlr_data {
	/* bytes 0-255: controller capabilities and features */
	uint16_t vid;			 /**< PCI vendor id */
	uint16_t ssvid;			 /**< PCI subsystem vendor id */
	char sn[SPIO_NVME_CTRLR_SN_LEN]; /**< serial number, ASCII, space padded */
	char mn[SPIO_NVME_CTRLR_MN_LEN]; /**< model number, ASCII, space padded */
	char fr[SPIO_NVME_CTRLR_FR_LEN]; /**< firmware revision, ASCII, space padded */
	uint8_t rab;			 /**< recommended arbitration burst */
	uint8_t ieee[3];		 /**< IEEE OUI */
	/** multi-path I/O and namespace sharing capabilities */
	union {
		uint8_t raw;
		struct {
			uint8_t multi_port : 1;	 /**< two or more ports */
			uint8_t multi_ctrlr : 1; /**< subsystem may have two or more controllers */
			uint8_t sr_iov : 1;	 /**< SR-IOV virtual function */
			uint8_t ana_reporting : 1; /**< asymmetric namespace access reporting */
			uint8_t reserved : 4;
		};
	} cmic;
	uint8_t mdts;	 /**< max data transfer: 2^mdts min pages, 0 = no limit */
	uint16_t cntlid; /**< controller id */
	union spio_nvme_vs_register ver;
	uint32_t rtd3r;	 /**< RTD3 resume latency, microseconds */
	uint32_t rtd3e;	 /**< RTD3 entry latency, microseconds */
	uint32_t oaes;	 /**< optional asynchronous events supported (SPIO_NVME_OAES_*) */
	uint32_t ctratt; /**< controller attributes (SPIO_NVME_CTRATT_*) */
	uint16_t rrls;	 /**< read recovery levels supported */
	uint8_t reserved102[9];
	uint8_t cntrltype; /**< enum spio_nvme_ctrlr_type */
	uint8_t fguid[16]; /**< FRU globally unique identifier */
	uint16_t crdt1;	   /**< command retry delay times, 100 ms units */
	uint16_t crdt2;
	uint16_t crdt3;
	uint8_t reserved134[119];
	/** NVM subsystem report (NVMe-MI) */
	union {
		uint8_t raw;
		struct {
			uint8_t nvmesd : 1; /**< part of an NVMe storage device */
			uint8_t nvmee : 1;  /**< part of an NVMe enclosure */
			uint8_t reserved : 6;
		};
	} nvmsr;
	/** VPD write cycle information (NVMe-MI) */
	union {
		uint8_t raw;
		struct {
			uint8_t vwcr : 7;  /**< write cycles remaining */
			uint8_t vwcrv : 1; /**< vwcr valid */
		};
	} vwci;
	/** management endpoint capabilities (NVMe-MI) */
	union {
		uint8_t raw;
		struct {
			uint8_t smbusme : 1; /**< SMBus/I2C port endpoint */
			uint8_t pcieme : 1;  /**< PCIe port endpoint */
			uint8_t reserved : 6;
		};
	} mec;

	/* bytes 256-511: admin command set attributes */
	/** optional admin commands supported */
	union {
		uint16_t raw;
		struct {
			uint16_t security : 1; /**< security send/receive */
			uint16_t format : 1;   /**< format NVM */
			uint16_t firmware : 1; /**< firmware commit / image download */
			uint16_t ns_manage : 1;
			uint16_t device_self_test : 1;
			uint16_t directives : 1;
			uint16_t nvme_mi : 1;
			uint16_t virtualization_management : 1;
			uint16_t doorbell_buffer_config : 1;
			uint16_t get_lba_status : 1;
			uint16_t command_feature_lockdown : 1;
			uint16_t reserved : 5;
		};
	} oacs;
	uint8_t acl;  /**< abort command limit, 0's based */
	uint8_t aerl; /**< async event request limit, 0's based */
	/** firmware updates */
	union {
		uint8_t raw;
		struct {
			uint8_t slot1_ro : 1;
			uint8_t num_slots : 3;
			uint8_t activation_without_reset : 1;
			uint8_t multiple_update_detection : 1;
			uint8_t reserved : 2;
		};
	} frmw;
	/** log page attributes */
	union {
		uint8_t raw;
		struct {
			uint8_t ns_smart : 1;  /**< SMART / health log per namespace */
			uint8_t celp : 1;      /**< commands supported and effects log */
			uint8_t edlp : 1;      /**< extended data for Get Log Page */
			uint8_t telemetry : 1; /**< telemetry logs */
			uint8_t pelp : 1;      /**< persistent event log */
			uint8_t mlps : 1;      /**< supported log pages etc. (2.0) */
			uint8_t da4 : 1;       /**< telemetry data area 4 */
			uint8_t reserved : 1;
		};
	} lpa;
	uint8_t elpe; /**< error log page entries, 0's based */
	uint8_t npss; /**< number of power states, 0's based */
	/** admin vendor specific command configuration */
	union {
		uint8_t raw;
		struct {
			uint8_t spec_format : 1;
			uint8_t reserved : 7;
		};
	} avscc;
	/** autonomous power state transition attributes */
	union {
		uint8_t raw;
		struct {
			uint8_t supported : 1;
			uint8_t reserved : 7;
		};
	} apsta;
	uint16_t wctemp;     /**< warning composite temperature threshold, kelvin */
	uint16_t cctemp;     /**< critical composite temperature threshold, kelvin */
	uint16_t mtfa;	     /**< max firmware activation time, 100 ms units */
	uint32_t hmpre;	     /**< host memory buffer preferred size, 4 KiB units */
	uint32_t hmmin;	     /**< host memory buffer minimum size, 4 KiB units */
	uint8_t tnvmcap[16]; /**< total NVM capacity, bytes, 128-bit */
	uint8_t unvmcap[16]; /**< unallocated NVM capacity, bytes, 128-bit */
	/** replay protected memory block support */
	union {
		uint32_t raw;
		struct {
			uint32_t num_rpmb_units : 3;
			uint32_t auth_method : 3;
			uint32_t reserved : 10;
			uint32_t total_size : 8;  /**< 128 KiB units, 0's based */
			uint32_t access_size : 8; /**< 512 byte units, 0's based */
		};
	} rpmbs;
	uint16_t edstt; /**< extended device self-test time, minutes */
	/** device self-test options */
	union {
		uint8_t raw;
		struct {
			uint8_t one_only : 1;
			uint8_t reserved : 7;
		};
	} dsto;
	uint8_t fwug; /**< firmware update granularity, 4 KiB units */
	uint16_t kas; /**< keep alive support: granularity in 100 ms units, 0 = none */
	/** host controlled thermal management attributes */
	union {
		uint16_t raw;
		struct {
			uint16_t supported : 1;
			uint16_t reserved : 15;
		};
	} hctma;
	uint16_t mntmt; /**< minimum thermal management temperature */
	uint16_t mxtmt; /**< maximum thermal management temperature */
	/** sanitize capabilities */
	union {
		uint32_t raw;
		struct {
			uint32_t crypto_erase : 1;
			uint32_t block_erase : 1;
			uint32_t overwrite : 1;
			uint32_t reserved : 26;
			uint32_t ndi : 1;     /**< no-deallocate inhibited */
			uint32_t nodmmas : 2; /**< no-deallocate modifies media after sanitize */
		};
	} sanicap;
	uint32_t hmminds;   /**< host memory buffer min descriptor entry size, 4 KiB units */
	uint16_t hmmaxd;    /**< host memory max descriptor entries */
	uint16_t nsetidmax; /**< NVM set identifier maximum */
	uint16_t endgidmax; /**< endurance group identifier maximum */
	uint8_t anatt;	    /**< ANA transition time, seconds */
	/** asymmetric namespace access capabilities */
	union {
		uint8_t raw;
		struct {
			uint8_t optimized : 1;
			uint8_t non_optimized : 1;
			uint8_t inaccessible : 1;
			uint8_t persistent_loss : 1;
			uint8_t change : 1;
			uint8_t reserved : 1;
			uint8_t no_change_anagrpid : 1; /**< ANAGRPID constant while attached */
			uint8_t non_zero_anagrpid : 1;	/**< Namespace Management takes ANAGRPID */
		};
	} anacap;
	uint32_t anagrpmax; /**< ANA group identifier maximum */
	uint32_t nanagrpid; /**< number of ANA group identifiers */
	uint32_t pels;	    /**< persistent event log size, 64 KiB units */
	uint16_t domainid;  /**< domain identifier */
	uint8_t reserved358[10];
	uint8_t megcap[16]; /**< max endurance group capacity, bytes, 128-bit */
	uint8_t reserved384[128];

	/* bytes 512-767: NVM command set attributes */
	uint8_t sqes;	 /**< SQ entry size: bits 3:0 required, 7:4 maximum, as 2^n */
	uint8_t cqes;	 /**< CQ entry size: bits 3:0 required, 7:4 maximum, as 2^n */
	uint16_t maxcmd; /**< max outstanding commands per queue (fabrics) */
	uint32_t nn;	 /**< number of namespaces (highest valid nsid) */
	/** optional NVM commands supported */
	union {
		uint16_t raw;
		struct {
			uint16_t compare : 1;
			uint16_t write_unc : 1;
			uint16_t dsm : 1;
			uint16_t write_zeroes : 1;
			uint16_t set_features_save : 1;
			uint16_t reservations : 1;
			uint16_t timestamp : 1;
			uint16_t verify : 1;
			uint16_t copy : 1;
			uint16_t reserved : 7;
		};
	} oncs;
	/** fused operations supported */
	union {
		uint16_t raw;
		struct {
			uint16_t compare_and_write : 1;
			uint16_t reserved : 15;
		};
	} fuses;
	/** format NVM attributes */
	union {
		uint8_t raw;
		struct {
			uint8_t format_all_ns : 1;
			uint8_t erase_all_ns : 1;
			uint8_t crypto_erase_supported : 1;
			uint8_t
			    format_nsid_all : 1; /**< Format NVM with nsid FFFFFFFFh not allowed */
			uint8_t reserved : 4;
		};
	} fna;
	/** volatile write cache */
	union {
		uint8_t raw;
		struct {
			uint8_t present : 1;
			uint8_t flush_broadcast : 2; /**< enum spio_nvme_flush_broadcast */
			uint8_t reserved : 5;
		};
	} vwc;
	uint16_t awun;	/**< atomic write unit normal, blocks, 0's based */
	uint16_t awupf; /**< atomic write unit power fail, blocks, 0's based */
	/** I/O command set vendor specific command configuration (1.x: NVSCC) */
	union {
		uint8_t icsvscc;
		uint8_t nvscc;
	};
	uint8_t nwpc;  /**< namespace write protection capabilities */
	uint16_t acwu; /**< atomic compare & write unit, blocks, 0's based */
	/** optional copy formats supported (2.1: CDFS) */
	union {
		uint16_t ocfs;
		uint16_t cdfs;
	};
	uint32_t sgls;	    /**< SGL support (SPIO_NVME_SGLS_*) */
	uint32_t mnan;	    /**< maximum number of allowed namespaces */
	uint8_t maxdna[16]; /**< max domain namespace attachments, 128-bit */
	uint32_t maxcna;    /**< max I/O controller namespace attachments */
	uint8_t reserved564[204];
	char subnqn[SPIO_NVME_NQN_FIELD_SIZE]; /**< NVM subsystem NQN, NUL padded */
	uint8_t reserved1024[768];

	/* bytes 1792-2047: NVMe over Fabrics attributes */
	uint32_t ioccsz; /**< I/O queue command capsule size, 16-byte units */
	uint32_t iorcsz; /**< I/O queue response capsule size, 16-byte units */
	uint16_t icdoff; /**< in-capsule data offset, 16-byte units */
	uint8_t fcatt;	 /**< fabrics controller attributes (SPIO_NVME_FCATT_*) */
	uint8_t msdbd;	 /**< max SGL data block descriptors, 0 = no limit */
	uint16_t ofcs;	 /**< optional fabric commands supported (SPIO_NVME_OFCS_*) */
	uint8_t dctype;	 /**< discovery controller type */
	uint8_t reserved1807[241];

	/* bytes 2048-3071: power state descriptors */
	struct spio_nvme_power_state psd[32];

	/* bytes 3072-4095 */
	uint8_t vs[1024]; /**< vendor specific */
};
SPIO_SPEC_SIZE(struct spio_nvme_ctrlr_data, 4096);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, vid, 0);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, ssvid, 2);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, sn, 4);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, mn, 24);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, fr, 64);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, rab, 72);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, ieee, 73);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, cmic, 76);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, mdts, 77);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, cntlid, 78);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, ver, 80);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, rtd3r, 84);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, rtd3e, 88);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, oaes, 92);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, ctratt, 96);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, rrls, 100);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, cntrltype, 111);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, fguid, 112);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, crdt1, 128);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, crdt2, 130);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, crdt3, 132);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, nvmsr, 253);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, vwci, 254);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, mec, 255);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, oacs, 256);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, acl, 258);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, aerl, 259);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, frmw, 260);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, lpa, 261);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, elpe, 262);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, npss, 263);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, avscc, 264);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, apsta, 265);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, wctemp, 266);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, cctemp, 268);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, mtfa, 270);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, hmpre, 272);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, hmmin, 276);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, tnvmcap, 280);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, unvmcap, 296);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, rpmbs, 312);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, edstt, 316);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, dsto, 318);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, fwug, 319);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, kas, 320);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, hctma, 322);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, mntmt, 324);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, mxtmt, 326);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, sanicap, 328);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, hmminds, 332);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, hmmaxd, 336);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, nsetidmax, 338);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, endgidmax, 340);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, anatt, 342);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, anacap, 343);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, anagrpmax, 344);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, nanagrpid, 348);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, pels, 352);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, domainid, 356);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, megcap, 368);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, sqes, 512);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, cqes, 513);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, maxcmd, 514);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, nn, 516);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, oncs, 520);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, fuses, 522);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, fna, 524);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, vwc, 525);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, awun, 526);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, awupf, 528);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, icsvscc, 530);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, nvscc, 530);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, nwpc, 531);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, acwu, 532);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, ocfs, 534);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, cdfs, 534);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, sgls, 536);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, mnan, 540);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, maxdna, 544);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, maxcna, 560);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, subnqn, 768);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, ioccsz, 1792);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, iorcsz, 1796);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, icdoff, 1800);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, fcatt, 1802);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, msdbd, 1803);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, ofcs, 1804);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, dctype, 1806);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, psd, 2048);
SPIO_SPEC_OFF(struct spio_nvme_ctrlr_data, vs, 3072);

/** Most LBA formats a namespace may list. */
#define SPIO_NVME_NS_MAX_LBA_FORMATS 64

/** LBA format descriptor (NVM Command Set 1.0, Identify Namespace LBAF0-63). */
struct spio_nvme_lbaf {
	uint32_t ms : 16;   /**< metadata bytes per block */
	uint32_t lbads : 8; /**< data size: 2^lbads bytes (0 = format not available) */
	uint32_t rp : 2;    /**< relative performance, 0 best */
	uint32_t reserved : 6;
};
SPIO_SPEC_SIZE(struct spio_nvme_lbaf, 4);

/**
 * Identify Namespace data structure for the NVM command set, CNS 00h, 4096
 * bytes (NVM Command Set Specification 1.0 section 4.1.5.1).
 */
struct spio_nvme_ns_data {
	uint64_t nsze; /**< namespace size, blocks */
	uint64_t ncap; /**< namespace capacity, blocks */
	uint64_t nuse; /**< namespace utilization, blocks */
	/** namespace features */
	union {
		uint8_t raw;
		struct {
			uint8_t thin_prov : 1;
			uint8_t ns_atomic_write_unit : 1; /**< nawun, nawupf, nacwu valid */
			uint8_t dealloc_or_unwritten_error : 1;
			uint8_t guid_never_reused : 1;
			uint8_t optperf : 1; /**< npwg .. nows valid */
			uint8_t reserved : 3;
		};
	} nsfeat;
	uint8_t nlbaf; /**< number of LBA formats, 0's based */
	/** formatted LBA size: the format in use */
	union {
		uint8_t raw;
		struct {
			uint8_t format : 4;	/**< format index bits 3:0 */
			uint8_t extended : 1;	/**< metadata at the end of each block's data */
			uint8_t msb_format : 2; /**< format index bits 5:4 (more than 16 formats) */
			uint8_t reserved : 1;
		};
	} flbas;
	/** metadata capabilities */
	union {
		uint8_t raw;
		struct {
			uint8_t extended : 1; /**< metadata with the data (extended LBA) */
			uint8_t pointer : 1;  /**< metadata in a separate buffer */
			uint8_t reserved : 6;
		};
	} mc;
	/** end-to-end data protection capabilities */
	union {
		uint8_t raw;
		struct {
			uint8_t pit1 : 1;
			uint8_t pit2 : 1;
			uint8_t pit3 : 1;
			uint8_t md_start : 1; /**< PI may be the first 8 bytes of metadata */
			uint8_t md_end : 1;   /**< PI may be the last 8 bytes of metadata */
			uint8_t reserved : 3;
		};
	} dpc;
	/** end-to-end data protection type settings */
	union {
		uint8_t raw;
		struct {
			uint8_t pit : 3;      /**< protection information type, 0 = none */
			uint8_t md_start : 1; /**< PI at the start of metadata */
			uint8_t reserved : 4;
		};
	} dps;
	/** multi-path I/O and namespace sharing capabilities */
	union {
		uint8_t raw;
		struct {
			uint8_t can_share : 1; /**< may be attached to two or more controllers */
			uint8_t reserved : 7;
		};
	} nmic;
	/** reservation capabilities */
	union {
		uint8_t raw;
		struct {
			uint8_t persist : 1; /**< persist through power loss */
			uint8_t write_exclusive : 1;
			uint8_t exclusive_access : 1;
			uint8_t write_exclusive_reg_only : 1;
			uint8_t exclusive_access_reg_only : 1;
			uint8_t write_exclusive_all_reg : 1;
			uint8_t exclusive_access_all_reg : 1;
			uint8_t ignore_existing_key : 1;
		};
	} nsrescap;
	/** format progress indicator */
	union {
		uint8_t raw;
		struct {
			uint8_t percentage_remaining : 7;
			uint8_t fpi_supported : 1;
		};
	} fpi;
	/** deallocate logical block features */
	union {
		uint8_t raw;
		struct {
			uint8_t read_value : 3; /**< 1: reads 00h, 2: reads FFh, 0: not reported */
			uint8_t write_zero_deallocate : 1;
			uint8_t guard_value : 1; /**< guard of deallocated blocks is their CRC */
			uint8_t reserved : 3;
		};
	} dlfeat;
	uint16_t nawun;	    /**< namespace atomic write unit normal */
	uint16_t nawupf;    /**< namespace atomic write unit power fail */
	uint16_t nacwu;	    /**< namespace atomic compare & write unit */
	uint16_t nabsn;	    /**< namespace atomic boundary size normal */
	uint16_t nabo;	    /**< namespace atomic boundary offset */
	uint16_t nabspf;    /**< namespace atomic boundary size power fail */
	uint16_t noiob;	    /**< namespace optimal I/O boundary, blocks */
	uint8_t nvmcap[16]; /**< NVM capacity, bytes, 128-bit */
	uint16_t npwg;	    /**< preferred write granularity, 0's based */
	uint16_t npwa;	    /**< preferred write alignment, 0's based */
	uint16_t npdg;	    /**< preferred deallocate granularity, 0's based */
	uint16_t npda;	    /**< preferred deallocate alignment, 0's based */
	uint16_t nows;	    /**< optimal write size, 0's based */
	uint16_t mssrl;	    /**< max single source range length (Copy) */
	uint32_t mcl;	    /**< max copy length */
	uint8_t msrc;	    /**< max source range count, 0's based */
	uint8_t reserved81;
	uint8_t nulbaf; /**< number of unique attribute LBA formats */
	uint8_t reserved83[9];
	uint32_t anagrpid; /**< ANA group identifier */
	uint8_t reserved96[3];
	/** namespace attributes */
	union {
		uint8_t raw;
		struct {
			uint8_t write_protected : 1;
			uint8_t reserved : 7;
		};
	} nsattr;
	uint16_t nvmsetid; /**< NVM set identifier */
	uint16_t endgid;   /**< endurance group identifier */
	uint8_t nguid[16]; /**< namespace globally unique identifier */
	uint64_t eui64;	   /**< IEEE extended unique identifier (bytes as on the wire) */
	struct spio_nvme_lbaf lbaf[SPIO_NVME_NS_MAX_LBA_FORMATS];
	uint8_t reserved384[3328];
	uint8_t vendor_specific[384];
};
SPIO_SPEC_SIZE(struct spio_nvme_ns_data, 4096);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, nsze, 0);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, ncap, 8);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, nuse, 16);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, nsfeat, 24);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, nlbaf, 25);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, flbas, 26);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, mc, 27);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, dpc, 28);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, dps, 29);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, nmic, 30);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, nsrescap, 31);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, fpi, 32);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, dlfeat, 33);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, nawun, 34);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, nawupf, 36);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, nacwu, 38);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, nabsn, 40);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, nabo, 42);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, nabspf, 44);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, noiob, 46);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, nvmcap, 48);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, npwg, 64);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, npwa, 66);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, npdg, 68);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, npda, 70);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, nows, 72);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, mssrl, 74);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, mcl, 76);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, msrc, 80);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, nulbaf, 82);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, anagrpid, 92);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, nsattr, 99);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, nvmsetid, 100);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, endgid, 102);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, nguid, 104);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, eui64, 120);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, lbaf, 128);
SPIO_SPEC_OFF(struct spio_nvme_ns_data, vendor_specific, 3712);

/**
 * Index of the LBA format a namespace is formatted with (FLBAS): bits 3:0,
 * plus bits 5:4 from msb_format when the namespace lists more than 16
 * formats (nlbaf, 0's based, at least 16); with 16 or fewer those bits are
 * ignored, as the spec tells hosts to.
 *
 * \param nsdata Identify Namespace data; read only.
 * \return the index into nsdata->lbaf (0-63). It is not checked against
 *         nlbaf: a bad controller can return an index beyond its list.
 * Pure, any thread.
 */
static inline uint32_t spio_nvme_ns_data_lba_format_index(const struct spio_nvme_ns_data *nsdata)
{
	uint32_t index = nsdata->flbas.format;

	if (nsdata->nlbaf >= 16) {
		index |= (uint32_t)nsdata->flbas.msb_format << 4;
	}
	return index;
}

/** Namespace identifier types (NVMe Base 2.0, Namespace Identification Descriptor). */
enum spio_nvme_nidt {
	SPIO_NVME_NIDT_EUI64 = 0x1, /**< IEEE EUI-64, SPIO_NVME_NIDT_EUI64_LEN bytes */
	SPIO_NVME_NIDT_NGUID = 0x2, /**< namespace GUID, 16 bytes */
	SPIO_NVME_NIDT_UUID = 0x3,  /**< namespace UUID, 16 bytes */
	SPIO_NVME_NIDT_CSI = 0x4,   /**< command set identifier, 1 byte */
};
#define SPIO_NVME_NIDT_EUI64_LEN 8
#define SPIO_NVME_NIDT_NGUID_LEN 16
#define SPIO_NVME_NIDT_UUID_LEN 16
#define SPIO_NVME_NIDT_CSI_LEN 1

/**
 * One namespace identification descriptor (CNS 03h returns a 4096-byte list
 * of them, ended by one with nidl 0). The next descriptor starts at
 * sizeof(struct spio_nvme_ns_id_desc) + nidl.
 */
struct spio_nvme_ns_id_desc {
	uint8_t nidt; /**< enum spio_nvme_nidt */
	uint8_t nidl; /**< length of nid in bytes */
	uint8_t reserved[2];
	uint8_t nid[];
};
SPIO_SPEC_SIZE(struct spio_nvme_ns_id_desc, 4);
SPIO_SPEC_OFF(struct spio_nvme_ns_id_desc, nidl, 1);
SPIO_SPEC_OFF(struct spio_nvme_ns_id_desc, nid, 4);

/** Namespace ids in one 4 KiB namespace list. */
#define SPIO_NVME_NS_LIST_MAX 1024

/**
 * Namespace list (CNS 02h / 10h and the Changed Namespace List log page):
 * increasing nsids, ended by a 0 entry or the end of the page. A changed list
 * that overflowed holds FFFFFFFFh in entry 0.
 */
struct spio_nvme_ns_list {
	uint32_t ns_list[SPIO_NVME_NS_LIST_MAX];
};
SPIO_SPEC_SIZE(struct spio_nvme_ns_list, 4096);

/** Controller list (CNS 12h / 13h, and the data of Namespace Attachment). */
struct spio_nvme_ctrlr_list {
	uint16_t ctrlr_count;
	uint16_t ctrlr_list[2047];
};
SPIO_SPEC_SIZE(struct spio_nvme_ctrlr_list, 4096);

/* ---------------------------------------------------------------------- */
/* Log pages (NVMe Base 2.0 section 5.16)                                  */
/* ---------------------------------------------------------------------- */

/** Log page identifiers (Get Log Page cdw10.lid). */
enum spio_nvme_log_page {
	SPIO_NVME_LOG_SUPPORTED_LOG_PAGES = 0x00,
	SPIO_NVME_LOG_ERROR = 0x01,
	SPIO_NVME_LOG_HEALTH_INFORMATION = 0x02,
	SPIO_NVME_LOG_FIRMWARE_SLOT = 0x03,
	SPIO_NVME_LOG_CHANGED_NS_LIST = 0x04,
	SPIO_NVME_LOG_COMMAND_EFFECTS_LOG = 0x05,
	SPIO_NVME_LOG_DEVICE_SELF_TEST = 0x06,
	SPIO_NVME_LOG_TELEMETRY_HOST_INITIATED = 0x07,
	SPIO_NVME_LOG_TELEMETRY_CTRLR_INITIATED = 0x08,
	SPIO_NVME_LOG_ENDURANCE_GROUP_INFORMATION = 0x09,
	SPIO_NVME_LOG_ASYMMETRIC_NAMESPACE_ACCESS = 0x0c,
	SPIO_NVME_LOG_PERSISTENT_EVENT_LOG = 0x0d,
	SPIO_NVME_LOG_LBA_STATUS_INFORMATION = 0x0e,
	/** NVMe over Fabrics discovery log (struct spio_nvmf_discovery_log_page) */
	SPIO_NVME_LOG_DISCOVERY = 0x70,
	SPIO_NVME_LOG_RESERVATION_NOTIFICATION = 0x80,
	SPIO_NVME_LOG_SANITIZE_STATUS = 0x81,
};

/** Error information log entry, 64 bytes (NVMe Base 2.0 section 5.16.1.2). */
struct spio_nvme_error_information_entry {
	uint64_t error_count; /**< unique, increasing; 0 = entry invalid */
	uint16_t sqid;
	uint16_t cid;
	struct spio_nvme_status status; /**< status of the failed command (p: phase) */
	uint16_t error_location;	/**< byte (7:0) and bit (10:8) of the bad field */
	uint64_t lba;
	uint32_t nsid;
	uint8_t vendor_specific; /**< vendor log page with more, 0 = none */
	uint8_t trtype;		 /**< transport type (enum spio_nvmf_trtype) */
	uint8_t reserved30[2];
	uint64_t command_specific;
	uint16_t trtype_specific;
	uint8_t reserved42[22];
};
SPIO_SPEC_SIZE(struct spio_nvme_error_information_entry, 64);
SPIO_SPEC_OFF(struct spio_nvme_error_information_entry, sqid, 8);
SPIO_SPEC_OFF(struct spio_nvme_error_information_entry, cid, 10);
SPIO_SPEC_OFF(struct spio_nvme_error_information_entry, status, 12);
SPIO_SPEC_OFF(struct spio_nvme_error_information_entry, error_location, 14);
SPIO_SPEC_OFF(struct spio_nvme_error_information_entry, lba, 16);
SPIO_SPEC_OFF(struct spio_nvme_error_information_entry, nsid, 24);
SPIO_SPEC_OFF(struct spio_nvme_error_information_entry, vendor_specific, 28);
SPIO_SPEC_OFF(struct spio_nvme_error_information_entry, trtype, 29);
SPIO_SPEC_OFF(struct spio_nvme_error_information_entry, command_specific, 32);
SPIO_SPEC_OFF(struct spio_nvme_error_information_entry, trtype_specific, 40);

/** SMART critical warning bits (health log byte 0; also Async Event Configuration). */
union spio_nvme_critical_warning_state {
	uint8_t raw;
	struct {
		uint8_t available_spare : 1; /**< spare below threshold */
		uint8_t temperature : 1;     /**< temperature beyond a threshold */
		uint8_t device_reliability : 1;
		uint8_t read_only : 1;
		uint8_t volatile_memory_backup : 1; /**< backup device failed */
		uint8_t pmr_read_only : 1;
		uint8_t reserved : 2;
	} bits;
};
SPIO_SPEC_SIZE(union spio_nvme_critical_warning_state, 1);

/**
 * SMART / Health Information log page, 512 bytes (NVMe Base 2.0 section
 * 5.16.1.3). Packed: the temperature field sits at byte 1. The 128-bit
 * counters are [0] low and [1] high 64 bits.
 */
struct __attribute__((packed)) spio_nvme_health_information_page {
	union spio_nvme_critical_warning_state critical_warning;
	uint16_t temperature;		   /**< composite temperature, kelvin */
	uint8_t available_spare;	   /**< percent */
	uint8_t available_spare_threshold; /**< percent */
	uint8_t percentage_used;	   /**< of the rated life, may exceed 100 */
	uint8_t endurance_group_critical_warning;
	uint8_t reserved7[25];
	uint64_t data_units_read[2];	/**< thousands of 512-byte units */
	uint64_t data_units_written[2]; /**< thousands of 512-byte units */
	uint64_t host_read_commands[2];
	uint64_t host_write_commands[2];
	uint64_t controller_busy_time[2]; /**< minutes */
	uint64_t power_cycles[2];
	uint64_t power_on_hours[2];
	uint64_t unsafe_shutdowns[2];
	uint64_t media_errors[2];
	uint64_t num_error_info_log_entries[2];
	uint32_t warning_temp_time;  /**< minutes above wctemp */
	uint32_t critical_temp_time; /**< minutes above cctemp */
	uint16_t temp_sensor[8];     /**< kelvin, 0 = not reported */
	uint32_t thm_temp1_trans_count;
	uint32_t thm_temp2_trans_count;
	uint32_t thm_temp1_total_time; /**< seconds */
	uint32_t thm_temp2_total_time; /**< seconds */
	uint8_t reserved232[280];
};
SPIO_SPEC_SIZE(struct spio_nvme_health_information_page, 512);
SPIO_SPEC_OFF(struct spio_nvme_health_information_page, temperature, 1);
SPIO_SPEC_OFF(struct spio_nvme_health_information_page, available_spare, 3);
SPIO_SPEC_OFF(struct spio_nvme_health_information_page, available_spare_threshold, 4);
SPIO_SPEC_OFF(struct spio_nvme_health_information_page, percentage_used, 5);
SPIO_SPEC_OFF(struct spio_nvme_health_information_page, endurance_group_critical_warning, 6);
SPIO_SPEC_OFF(struct spio_nvme_health_information_page, data_units_read, 32);
SPIO_SPEC_OFF(struct spio_nvme_health_information_page, data_units_written, 48);
SPIO_SPEC_OFF(struct spio_nvme_health_information_page, host_read_commands, 64);
SPIO_SPEC_OFF(struct spio_nvme_health_information_page, host_write_commands, 80);
SPIO_SPEC_OFF(struct spio_nvme_health_information_page, controller_busy_time, 96);
SPIO_SPEC_OFF(struct spio_nvme_health_information_page, power_cycles, 112);
SPIO_SPEC_OFF(struct spio_nvme_health_information_page, power_on_hours, 128);
SPIO_SPEC_OFF(struct spio_nvme_health_information_page, unsafe_shutdowns, 144);
SPIO_SPEC_OFF(struct spio_nvme_health_information_page, media_errors, 160);
SPIO_SPEC_OFF(struct spio_nvme_health_information_page, num_error_info_log_entries, 176);
SPIO_SPEC_OFF(struct spio_nvme_health_information_page, warning_temp_time, 192);
SPIO_SPEC_OFF(struct spio_nvme_health_information_page, critical_temp_time, 196);
SPIO_SPEC_OFF(struct spio_nvme_health_information_page, temp_sensor, 200);
SPIO_SPEC_OFF(struct spio_nvme_health_information_page, thm_temp1_trans_count, 216);
SPIO_SPEC_OFF(struct spio_nvme_health_information_page, thm_temp2_trans_count, 220);
SPIO_SPEC_OFF(struct spio_nvme_health_information_page, thm_temp1_total_time, 224);
SPIO_SPEC_OFF(struct spio_nvme_health_information_page, thm_temp2_total_time, 228);

/** Firmware Slot Information log page, 512 bytes (NVMe Base 2.0 section 5.16.1.4). */
struct spio_nvme_firmware_page {
	union {
		uint8_t raw;
		struct {
			uint8_t active_slot : 3; /**< slot running now */
			uint8_t reserved3 : 1;
			uint8_t
			    next_reset_slot : 3; /**< slot activated at the next reset, 0 = none */
			uint8_t reserved7 : 1;
		};
	} afi;
	uint8_t reserved1[7];
	char revision[7][8]; /**< firmware revision per slot 1-7, ASCII; zero = empty */
	uint8_t reserved64[448];
};
SPIO_SPEC_SIZE(struct spio_nvme_firmware_page, 512);
SPIO_SPEC_OFF(struct spio_nvme_firmware_page, revision, 8);

/** Commands Supported and Effects entry (one per opcode), NVMe Base 2.0 section 5.16.1.6. */
union spio_nvme_cmds_and_effect_entry {
	uint32_t raw;
	struct {
		uint32_t csupp : 1; /**< command supported */
		uint32_t lbcc : 1;  /**< may change logical block content */
		uint32_t ncc : 1;   /**< may change namespace capabilities */
		uint32_t nic : 1;   /**< may change the namespace inventory */
		uint32_t ccc : 1;   /**< may change controller capabilities */
		uint32_t reserved1 : 11;
		uint32_t cse : 3; /**< submission and execution restrictions */
		uint32_t uss : 1; /**< UUID selection supported */
		uint32_t reserved2 : 12;
	} bits;
};
SPIO_SPEC_SIZE(union spio_nvme_cmds_and_effect_entry, 4);

/** Commands Supported and Effects log page, 4096 bytes, indexed by opcode. */
struct spio_nvme_cmds_and_effect_log_page {
	union spio_nvme_cmds_and_effect_entry admin_cmds_supported[256];
	union spio_nvme_cmds_and_effect_entry io_cmds_supported[256];
	uint8_t reserved2048[2048];
};
SPIO_SPEC_SIZE(struct spio_nvme_cmds_and_effect_log_page, 4096);
SPIO_SPEC_OFF(struct spio_nvme_cmds_and_effect_log_page, io_cmds_supported, 1024);

/** ANA states (NVMe Base 2.0 section 8.1, Asymmetric Namespace Access). */
enum spio_nvme_ana_state {
	SPIO_NVME_ANA_OPTIMIZED_STATE = 0x1,
	SPIO_NVME_ANA_NON_OPTIMIZED_STATE = 0x2,
	SPIO_NVME_ANA_INACCESSIBLE_STATE = 0x3,
	SPIO_NVME_ANA_PERSISTENT_LOSS_STATE = 0x4,
	SPIO_NVME_ANA_CHANGE_STATE = 0xf,
};

/**
 * ANA log page header, 16 bytes (NVMe Base 2.0 section 5.16.1.12); followed
 * by num_ana_group_desc group descriptors, each of variable length.
 */
struct spio_nvme_ana_page {
	uint64_t change_count;
	uint16_t num_ana_group_desc;
	uint8_t reserved[6];
};
SPIO_SPEC_SIZE(struct spio_nvme_ana_page, 16);
SPIO_SPEC_OFF(struct spio_nvme_ana_page, num_ana_group_desc, 8);

/**
 * ANA group descriptor: 32 bytes, then num_of_nsid nsids (none when the Get
 * Log Page asked for groups only, lsp bit 0).
 */
struct spio_nvme_ana_group_descriptor {
	uint32_t ana_group_id;
	uint32_t num_of_nsid;
	uint64_t change_count;
	uint8_t ana_state : 4; /**< enum spio_nvme_ana_state */
	uint8_t reserved0 : 4;
	uint8_t reserved1[15];
	uint32_t nsid[];
};
SPIO_SPEC_SIZE(struct spio_nvme_ana_group_descriptor, 32);
SPIO_SPEC_OFF(struct spio_nvme_ana_group_descriptor, num_of_nsid, 4);
SPIO_SPEC_OFF(struct spio_nvme_ana_group_descriptor, change_count, 8);
SPIO_SPEC_OFF(struct spio_nvme_ana_group_descriptor, reserved1, 17);
SPIO_SPEC_OFF(struct spio_nvme_ana_group_descriptor, nsid, 32);

/* ---------------------------------------------------------------------- */
/* Discovery log page (NVMe over Fabrics 1.1 section 5.3)                  */
/* ---------------------------------------------------------------------- */

/** Transport types (TRTYPE). */
enum spio_nvmf_trtype {
	SPIO_NVMF_TRTYPE_RDMA = 0x1,
	SPIO_NVMF_TRTYPE_FC = 0x2,
	SPIO_NVMF_TRTYPE_TCP = 0x3,
	SPIO_NVMF_TRTYPE_INTRA_HOST = 0xfe, /**< loopback inside one host */
};

/** Address families (ADRFAM). */
enum spio_nvmf_adrfam {
	SPIO_NVMF_ADRFAM_IPV4 = 0x1,
	SPIO_NVMF_ADRFAM_IPV6 = 0x2,
	SPIO_NVMF_ADRFAM_IB = 0x3,
	SPIO_NVMF_ADRFAM_FC = 0x4,
	SPIO_NVMF_ADRFAM_INTRA_HOST = 0xfe,
};

/** Subsystem types (SUBTYPE) of discovery log entries. */
enum spio_nvmf_subtype {
	/** a referral to another discovery subsystem */
	SPIO_NVMF_SUBTYPE_DISCOVERY_REFERRAL = 0x1,
	/** older name of SPIO_NVMF_SUBTYPE_DISCOVERY_REFERRAL */
	SPIO_NVMF_SUBTYPE_DISCOVERY = 0x1,
	/** an NVM subsystem */
	SPIO_NVMF_SUBTYPE_NVME = 0x2,
	/** the discovery subsystem answering the request */
	SPIO_NVMF_SUBTYPE_DISCOVERY_CURRENT = 0x3,
};

/** TREQ secure channel values. */
enum spio_nvmf_treq_secure_channel {
	SPIO_NVMF_TREQ_SECURE_CHANNEL_NOT_SPECIFIED = 0x0,
	SPIO_NVMF_TREQ_SECURE_CHANNEL_REQUIRED = 0x1,
	SPIO_NVMF_TREQ_SECURE_CHANNEL_NOT_REQUIRED = 0x2,
};

/** Discovery log entry eflags. */
#define SPIO_NVMF_DISCOVERY_LOG_EFLAGS_DUPRETINFO (1u << 0) /**< duplicate returned info */
#define SPIO_NVMF_DISCOVERY_LOG_EFLAGS_EPCSD (1u << 1)	    /**< explicit persistent connection */

/** NVMe/TCP security types (TSAS sectype). */
enum spio_nvmf_tcp_sectype {
	SPIO_NVMF_TCP_SECTYPE_NONE = 0x0,
	SPIO_NVMF_TCP_SECTYPE_TLS12 = 0x1,
	SPIO_NVMF_TCP_SECTYPE_TLS13 = 0x2,
};

/** Well-known NQN of discovery subsystems. */
#define SPIO_NVMF_DISCOVERY_NQN "nqn.2014-08.org.nvmexpress.discovery"
/** Longest NQN in bytes, not counting the NUL. */
#define SPIO_NVMF_NQN_MAX_LEN 223
/** Shortest NQN accepted: the "nqn.yyyy-mm" date prefix alone is 11 characters. */
#define SPIO_NVMF_NQN_MIN_LEN 11
/** Size of the TRADDR field. */
#define SPIO_NVMF_TRADDR_MAX_LEN 256
/** Size of the TRSVCID field. */
#define SPIO_NVMF_TRSVCID_MAX_LEN 32

/** Transport specific address subtype (TSAS), 256 bytes. */
union spio_nvmf_transport_specific_address_subtype {
	uint8_t raw[256];
	struct {
		uint8_t rdma_qptype; /**< 1 reliable connected, 2 reliable datagram */
		uint8_t rdma_prtype; /**< provider: 1 none, 2 IB, 3 RoCE, 4 RoCEv2, 5 iWARP */
		uint8_t rdma_cms;    /**< 1 RDMA_IP_CM */
		uint8_t reserved3[5];
		uint16_t rdma_pkey;
		uint8_t reserved10[246];
	} rdma;
	struct {
		uint8_t sectype; /**< enum spio_nvmf_tcp_sectype */
		uint8_t reserved1[255];
	} tcp;
};
SPIO_SPEC_SIZE(union spio_nvmf_transport_specific_address_subtype, 256);
SPIO_SPEC_OFF(union spio_nvmf_transport_specific_address_subtype, rdma.rdma_pkey, 8);

/** Discovery log page entry, 1024 bytes. */
struct spio_nvmf_discovery_log_page_entry {
	uint8_t trtype;	 /**< enum spio_nvmf_trtype */
	uint8_t adrfam;	 /**< enum spio_nvmf_adrfam */
	uint8_t subtype; /**< enum spio_nvmf_subtype */
	/** transport requirements */
	union {
		uint8_t raw;
		struct {
			uint8_t secure_channel : 2; /**< enum spio_nvmf_treq_secure_channel */
			uint8_t sq_flow_control_disable : 1; /**< SQ flow control may be disabled */
			uint8_t reserved : 5;
		};
	} treq;
	uint16_t portid;
	uint16_t cntlid; /**< 0xffff: dynamic controller model */
	uint16_t asqsz;	 /**< admin max SQ size */
	uint16_t eflags; /**< SPIO_NVMF_DISCOVERY_LOG_EFLAGS_* */
	uint8_t reserved12[20];
	char trsvcid[SPIO_NVMF_TRSVCID_MAX_LEN]; /**< e.g. TCP port, ASCII, space padded */
	uint8_t reserved64[192];
	char subnqn[SPIO_NVME_NQN_FIELD_SIZE]; /**< NUL terminated */
	char traddr[SPIO_NVMF_TRADDR_MAX_LEN]; /**< ASCII, space padded */
	union spio_nvmf_transport_specific_address_subtype tsas;
};
SPIO_SPEC_SIZE(struct spio_nvmf_discovery_log_page_entry, 1024);
SPIO_SPEC_OFF(struct spio_nvmf_discovery_log_page_entry, adrfam, 1);
SPIO_SPEC_OFF(struct spio_nvmf_discovery_log_page_entry, subtype, 2);
SPIO_SPEC_OFF(struct spio_nvmf_discovery_log_page_entry, treq, 3);
SPIO_SPEC_OFF(struct spio_nvmf_discovery_log_page_entry, portid, 4);
SPIO_SPEC_OFF(struct spio_nvmf_discovery_log_page_entry, cntlid, 6);
SPIO_SPEC_OFF(struct spio_nvmf_discovery_log_page_entry, asqsz, 8);
SPIO_SPEC_OFF(struct spio_nvmf_discovery_log_page_entry, eflags, 10);
SPIO_SPEC_OFF(struct spio_nvmf_discovery_log_page_entry, trsvcid, 32);
SPIO_SPEC_OFF(struct spio_nvmf_discovery_log_page_entry, subnqn, 256);
SPIO_SPEC_OFF(struct spio_nvmf_discovery_log_page_entry, traddr, 512);
SPIO_SPEC_OFF(struct spio_nvmf_discovery_log_page_entry, tsas, 768);

/** Discovery log page: a 1024-byte header, then numrec entries. */
struct spio_nvmf_discovery_log_page {
	uint64_t genctr; /**< generation counter: changes with every change of the log */
	uint64_t numrec; /**< number of records */
	uint16_t recfmt; /**< record format, 0 */
	uint8_t reserved18[1006];
	struct spio_nvmf_discovery_log_page_entry entries[];
};
SPIO_SPEC_SIZE(struct spio_nvmf_discovery_log_page, 1024);
SPIO_SPEC_OFF(struct spio_nvmf_discovery_log_page, numrec, 8);
SPIO_SPEC_OFF(struct spio_nvmf_discovery_log_page, recfmt, 16);
SPIO_SPEC_OFF(struct spio_nvmf_discovery_log_page, entries, 1024);

/* ---------------------------------------------------------------------- */
/* Features (NVMe Base 2.0 section 5.27.1)                                 */
/* ---------------------------------------------------------------------- */

/** Feature identifiers (Get/Set Features cdw10.fid). */
enum spio_nvme_feat {
	SPIO_NVME_FEAT_ARBITRATION = 0x01,
	SPIO_NVME_FEAT_POWER_MANAGEMENT = 0x02,
	SPIO_NVME_FEAT_LBA_RANGE_TYPE = 0x03,
	SPIO_NVME_FEAT_TEMPERATURE_THRESHOLD = 0x04,
	SPIO_NVME_FEAT_ERROR_RECOVERY = 0x05,
	SPIO_NVME_FEAT_VOLATILE_WRITE_CACHE = 0x06,
	SPIO_NVME_FEAT_NUMBER_OF_QUEUES = 0x07,
	SPIO_NVME_FEAT_INTERRUPT_COALESCING = 0x08,
	SPIO_NVME_FEAT_INTERRUPT_VECTOR_CONFIGURATION = 0x09,
	SPIO_NVME_FEAT_WRITE_ATOMICITY = 0x0a,
	SPIO_NVME_FEAT_ASYNC_EVENT_CONFIGURATION = 0x0b,
	SPIO_NVME_FEAT_AUTONOMOUS_POWER_STATE_TRANSITION = 0x0c,
	SPIO_NVME_FEAT_HOST_MEM_BUFFER = 0x0d,
	SPIO_NVME_FEAT_TIMESTAMP = 0x0e,
	SPIO_NVME_FEAT_KEEP_ALIVE_TIMER = 0x0f,
	SPIO_NVME_FEAT_HOST_CONTROLLED_THERMAL_MANAGEMENT = 0x10,
	SPIO_NVME_FEAT_NON_OPERATIONAL_POWER_STATE_CONFIG = 0x11,
	SPIO_NVME_FEAT_READ_RECOVERY_LEVEL_CONFIG = 0x12,
	SPIO_NVME_FEAT_PREDICTABLE_LATENCY_MODE_CONFIG = 0x13,
	SPIO_NVME_FEAT_PREDICTABLE_LATENCY_MODE_WINDOW = 0x14,
	SPIO_NVME_FEAT_HOST_BEHAVIOR_SUPPORT = 0x16,
	SPIO_NVME_FEAT_SANITIZE_CONFIG = 0x17,
	SPIO_NVME_FEAT_ENDURANCE_GROUP_EVENT = 0x18,
	SPIO_NVME_FEAT_IO_COMMAND_SET_PROFILE = 0x19,
	SPIO_NVME_FEAT_SOFTWARE_PROGRESS_MARKER = 0x80,
	SPIO_NVME_FEAT_HOST_IDENTIFIER = 0x81,
	SPIO_NVME_FEAT_HOST_RESERVE_MASK = 0x82,
	SPIO_NVME_FEAT_HOST_RESERVE_PERSIST = 0x83,
	SPIO_NVME_FEAT_NAMESPACE_WRITE_PROTECTION_CONFIG = 0x84,
};

/** Get Features select (cdw10.sel): which value to return. */
enum spio_nvme_feat_sel {
	SPIO_NVME_FEAT_SEL_CURRENT = 0x0,
	SPIO_NVME_FEAT_SEL_DEFAULT = 0x1,
	SPIO_NVME_FEAT_SEL_SAVED = 0x2,
	SPIO_NVME_FEAT_SEL_SUPPORTED =
	    0x3, /**< capabilities: saveable, per namespace, changeable */
};

/** Arbitration feature (cdw11 / completion cdw0). */
union spio_nvme_feat_arbitration {
	uint32_t raw;
	struct {
		uint32_t ab : 3; /**< arbitration burst, 2^ab; 7 = no limit */
		uint32_t reserved : 5;
		uint32_t lpw : 8; /**< low priority weight, 0's based */
		uint32_t mpw : 8; /**< medium priority weight, 0's based */
		uint32_t hpw : 8; /**< high priority weight, 0's based */
	} bits;
};
SPIO_SPEC_SIZE(union spio_nvme_feat_arbitration, 4);

/** Power Management feature. */
union spio_nvme_feat_power_management {
	uint32_t raw;
	struct {
		uint32_t ps : 5; /**< power state */
		uint32_t wh : 3; /**< workload hint */
		uint32_t reserved : 24;
	} bits;
};
SPIO_SPEC_SIZE(union spio_nvme_feat_power_management, 4);

/** Temperature Threshold feature. */
union spio_nvme_feat_temperature_threshold {
	uint32_t raw;
	struct {
		uint32_t tmpth : 16; /**< threshold, kelvin */
		uint32_t tmpsel : 4; /**< sensor: 0 composite, 1-8 sensors, 15 all */
		uint32_t thsel : 2;  /**< 0 over-temperature, 1 under-temperature */
		uint32_t reserved : 10;
	} bits;
};
SPIO_SPEC_SIZE(union spio_nvme_feat_temperature_threshold, 4);

/** Error Recovery feature. */
union spio_nvme_feat_error_recovery {
	uint32_t raw;
	struct {
		uint32_t tler : 16; /**< time limited error recovery, 100 ms units */
		uint32_t dulbe : 1; /**< deallocated or unwritten block error enable */
		uint32_t reserved : 15;
	} bits;
};
SPIO_SPEC_SIZE(union spio_nvme_feat_error_recovery, 4);

/** Volatile Write Cache feature. */
union spio_nvme_feat_volatile_write_cache {
	uint32_t raw;
	struct {
		uint32_t wce : 1; /**< write cache enable */
		uint32_t reserved : 31;
	} bits;
};
SPIO_SPEC_SIZE(union spio_nvme_feat_volatile_write_cache, 4);

/**
 * Number of Queues feature: requested (cdw11) and allocated (completion
 * cdw0) I/O queue counts, both 0's based.
 */
union spio_nvme_feat_number_of_queues {
	uint32_t raw;
	struct {
		uint32_t nsqr : 16; /**< I/O submission queues */
		uint32_t ncqr : 16; /**< I/O completion queues */
	} bits;
};
SPIO_SPEC_SIZE(union spio_nvme_feat_number_of_queues, 4);

/** Interrupt Coalescing feature. */
union spio_nvme_feat_interrupt_coalescing {
	uint32_t raw;
	struct {
		uint32_t thr : 8;  /**< aggregation threshold, 0's based */
		uint32_t time : 8; /**< aggregation time, 100 us units */
		uint32_t reserved : 16;
	} bits;
};
SPIO_SPEC_SIZE(union spio_nvme_feat_interrupt_coalescing, 4);

/** Asynchronous Event Configuration feature: which events the controller reports. */
union spio_nvme_feat_async_event_configuration {
	uint32_t raw;
	struct {
		uint32_t
		    crit_warn : 8; /**< SMART warnings, as union spio_nvme_critical_warning_state */
		uint32_t ns_attr_notice : 1;
		uint32_t fw_activation_notice : 1;
		uint32_t telemetry_log_notice : 1;
		uint32_t ana_change_notice : 1;
		uint32_t reserved : 19;
		uint32_t discovery_log_change_notice : 1;
	} bits;
};
SPIO_SPEC_SIZE(union spio_nvme_feat_async_event_configuration, 4);

/** Autonomous Power State Transition feature. */
union spio_nvme_feat_autonomous_power_state_transition {
	uint32_t raw;
	struct {
		uint32_t apste : 1; /**< enable */
		uint32_t reserved : 31;
	} bits;
};
SPIO_SPEC_SIZE(union spio_nvme_feat_autonomous_power_state_transition, 4);

/** Keep Alive Timer feature: the keep alive timeout. */
union spio_nvme_feat_keep_alive_timer {
	uint32_t raw;
	struct {
		uint32_t kato : 32; /**< milliseconds, 0 = disabled */
	} bits;
};
SPIO_SPEC_SIZE(union spio_nvme_feat_keep_alive_timer, 4);

/** Host Identifier feature cdw11 (the identifier itself is in the data buffer). */
union spio_nvme_feat_host_identifier {
	uint32_t raw;
	struct {
		uint32_t exhid : 1; /**< 128-bit extended host identifier */
		uint32_t reserved : 31;
	} bits;
};
SPIO_SPEC_SIZE(union spio_nvme_feat_host_identifier, 4);

/* ---------------------------------------------------------------------- */
/* Asynchronous events (NVMe Base 2.0 section 5.2)                         */
/* ---------------------------------------------------------------------- */

/** Completion dword 0 of an Asynchronous Event Request. */
union spio_nvme_async_event_completion {
	uint32_t raw;
	struct {
		uint32_t async_event_type : 3; /**< enum spio_nvme_async_event_type */
		uint32_t reserved1 : 5;
		uint32_t async_event_info : 8;	  /**< per type, e.g. enum
						     spio_nvme_async_event_info_notice */
		uint32_t log_page_identifier : 8; /**< page to read (with rae 0) to re-arm */
		uint32_t reserved2 : 8;
	} bits;
};
SPIO_SPEC_SIZE(union spio_nvme_async_event_completion, 4);

/** Asynchronous event types. */
enum spio_nvme_async_event_type {
	SPIO_NVME_ASYNC_EVENT_TYPE_ERROR = 0x0,
	SPIO_NVME_ASYNC_EVENT_TYPE_SMART = 0x1,
	SPIO_NVME_ASYNC_EVENT_TYPE_NOTICE = 0x2,
	SPIO_NVME_ASYNC_EVENT_TYPE_IMMEDIATE = 0x3,
	SPIO_NVME_ASYNC_EVENT_TYPE_ONESHOT = 0x4,
	SPIO_NVME_ASYNC_EVENT_TYPE_IO = 0x6,
	SPIO_NVME_ASYNC_EVENT_TYPE_VENDOR = 0x7,
};

/** Event information of notice events (type SPIO_NVME_ASYNC_EVENT_TYPE_NOTICE). */
enum spio_nvme_async_event_info_notice {
	SPIO_NVME_ASYNC_EVENT_NS_ATTR_CHANGED = 0x0,
	SPIO_NVME_ASYNC_EVENT_FW_ACTIVATION_START = 0x1,
	SPIO_NVME_ASYNC_EVENT_TELEMETRY_LOG_CHANGED = 0x2,
	SPIO_NVME_ASYNC_EVENT_ANA_CHANGE = 0x3,
	SPIO_NVME_ASYNC_EVENT_PLEA_CHANGED = 0x4,
	SPIO_NVME_ASYNC_EVENT_LBA_STATUS_ALERT = 0x5,
	SPIO_NVME_ASYNC_EVENT_EGEA_CHANGED = 0x6,
	SPIO_NVME_ASYNC_EVENT_DISCOVERY_LOG_CHANGE = 0xf0,
};

/** Event information of SMART / health events. */
enum spio_nvme_async_event_info_smart {
	SPIO_NVME_ASYNC_EVENT_SUBSYSTEM_RELIABILITY = 0x0,
	SPIO_NVME_ASYNC_EVENT_TEMPERATURE_THRESHOLD = 0x1,
	SPIO_NVME_ASYNC_EVENT_SPARE_BELOW_THRESHOLD = 0x2,
};

/* ---------------------------------------------------------------------- */
/* Fabrics commands (NVMe over Fabrics 1.1 section 3)                      */
/* ---------------------------------------------------------------------- */

/** Fabrics command types (fctype of an SPIO_NVME_OPC_FABRIC command). */
enum spio_nvmf_fabric_cmd_types {
	SPIO_NVMF_FABRIC_COMMAND_PROPERTY_SET = 0x00,
	SPIO_NVMF_FABRIC_COMMAND_CONNECT = 0x01,
	SPIO_NVMF_FABRIC_COMMAND_PROPERTY_GET = 0x04,
	SPIO_NVMF_FABRIC_COMMAND_AUTHENTICATION_SEND = 0x05,
	SPIO_NVMF_FABRIC_COMMAND_AUTHENTICATION_RECV = 0x06,
	SPIO_NVMF_FABRIC_COMMAND_DISCONNECT = 0x08,
	SPIO_NVMF_FABRIC_COMMAND_START_VENDOR_SPECIFIC = 0xc0,
};

/** Generic fabrics command capsule, 64 bytes: what every fabrics command has in common. */
struct spio_nvmf_capsule_cmd {
	uint8_t opcode; /**< SPIO_NVME_OPC_FABRIC */
	uint8_t reserved1;
	uint16_t cid;
	uint8_t fctype; /**< enum spio_nvmf_fabric_cmd_types */
	uint8_t reserved2[35];
	uint8_t fabric_specific[24];
};
SPIO_SPEC_SIZE(struct spio_nvmf_capsule_cmd, 64);
SPIO_SPEC_OFF(struct spio_nvmf_capsule_cmd, cid, 2);
SPIO_SPEC_OFF(struct spio_nvmf_capsule_cmd, fctype, 4);
SPIO_SPEC_OFF(struct spio_nvmf_capsule_cmd, fabric_specific, 40);

/** Connect cattr bits (plain uint8_t). */
#define SPIO_NVMF_CONNECT_CATTR_PRIORITY_MASK 0x3u	  /**< priority class (I/O queues) */
#define SPIO_NVMF_CONNECT_CATTR_DISABLE_SQ_FLOW (1u << 2) /**< disable SQ flow control */

/** cntlid in Connect data: "any controller" in the dynamic model. */
#define SPIO_NVMF_CNTLID_DYNAMIC 0xffff

/** Connect command, 64 bytes; its data is struct spio_nvmf_fabric_connect_data. */
struct spio_nvmf_fabric_connect_cmd {
	uint8_t opcode;
	uint8_t reserved1;
	uint16_t cid;
	uint8_t fctype; /**< SPIO_NVMF_FABRIC_COMMAND_CONNECT */
	uint8_t reserved2[19];
	struct spio_nvme_sgl_descriptor sgl1; /**< where the 1024 bytes of connect data are */
	uint16_t recfmt;		      /**< record format, 0 */
	uint16_t qid;			      /**< 0 = admin queue */
	uint16_t sqsize;		      /**< 0's based */
	uint8_t cattr;			      /**< SPIO_NVMF_CONNECT_CATTR_* */
	uint8_t reserved3;
	uint32_t kato; /**< keep alive timeout, ms (admin queue only) */
	uint8_t reserved4[12];
};
SPIO_SPEC_SIZE(struct spio_nvmf_fabric_connect_cmd, 64);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_connect_cmd, cid, 2);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_connect_cmd, fctype, 4);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_connect_cmd, sgl1, 24);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_connect_cmd, recfmt, 40);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_connect_cmd, qid, 42);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_connect_cmd, sqsize, 44);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_connect_cmd, cattr, 46);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_connect_cmd, kato, 48);

/** Connect command data, 1024 bytes. */
struct spio_nvmf_fabric_connect_data {
	uint8_t hostid[16]; /**< host identifier (a UUID) */
	uint16_t cntlid;    /**< SPIO_NVMF_CNTLID_DYNAMIC on the admin queue, else the controller */
	uint8_t reserved5[238];
	char subnqn[SPIO_NVME_NQN_FIELD_SIZE];	/**< NUL terminated */
	char hostnqn[SPIO_NVME_NQN_FIELD_SIZE]; /**< NUL terminated */
	uint8_t reserved6[256];
};
SPIO_SPEC_SIZE(struct spio_nvmf_fabric_connect_data, 1024);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_connect_data, cntlid, 16);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_connect_data, subnqn, 256);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_connect_data, hostnqn, 512);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_connect_data, reserved6, 768);

/** Connect response, 16 bytes: a completion whose dword 0 is Connect specific. */
struct spio_nvmf_fabric_connect_rsp {
	union {
		struct {
			uint16_t cntlid;  /**< the controller the host got */
			uint16_t authreq; /**< authentication required (bit 1: ATR, bit 2: ASCR) */
		} success;
		/** SPIO_NVMF_FABRIC_SC_INVALID_PARAM: which field was bad */
		struct {
			uint16_t ipo;  /**< byte offset of the field */
			uint8_t iattr; /**< 0: in the command, 1: in the connect data */
			uint8_t reserved;
		} invalid;
		uint32_t raw;
	} status_code_specific;
	uint32_t reserved0;
	uint16_t sqhd;
	uint16_t reserved1;
	uint16_t cid;
	struct spio_nvme_status status;
};
SPIO_SPEC_SIZE(struct spio_nvmf_fabric_connect_rsp, 16);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_connect_rsp, status_code_specific.success.authreq, 2);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_connect_rsp, status_code_specific.invalid.iattr, 2);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_connect_rsp, sqhd, 8);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_connect_rsp, cid, 12);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_connect_rsp, status, 14);

/** Property Get / Set attrib.size values. */
#define SPIO_NVMF_PROP_SIZE_4 0 /**< 4-byte property */
#define SPIO_NVMF_PROP_SIZE_8 1 /**< 8-byte property */

/** Property Get command, 64 bytes: read a controller property (register). */
struct spio_nvmf_fabric_prop_get_cmd {
	uint8_t opcode;
	uint8_t reserved1;
	uint16_t cid;
	uint8_t fctype; /**< SPIO_NVMF_FABRIC_COMMAND_PROPERTY_GET */
	uint8_t reserved2[35];
	struct {
		uint8_t size : 3; /**< SPIO_NVMF_PROP_SIZE_* */
		uint8_t reserved : 5;
	} attrib;
	uint8_t reserved3[3];
	uint32_t ofst; /**< property offset (enum spio_nvme_reg_offset) */
	uint8_t reserved4[16];
};
SPIO_SPEC_SIZE(struct spio_nvmf_fabric_prop_get_cmd, 64);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_prop_get_cmd, fctype, 4);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_prop_get_cmd, attrib, 40);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_prop_get_cmd, ofst, 44);

/** Property Get response, 16 bytes: the value in dwords 0-1. */
struct spio_nvmf_fabric_prop_get_rsp {
	union {
		uint64_t u64;
		struct {
			uint32_t low;
			uint32_t high;
		} u32;
	} value;
	uint16_t sqhd;
	uint16_t reserved0;
	uint16_t cid;
	struct spio_nvme_status status;
};
SPIO_SPEC_SIZE(struct spio_nvmf_fabric_prop_get_rsp, 16);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_prop_get_rsp, sqhd, 8);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_prop_get_rsp, cid, 12);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_prop_get_rsp, status, 14);

/** Property Set command, 64 bytes: write a controller property. */
struct spio_nvmf_fabric_prop_set_cmd {
	uint8_t opcode;
	uint8_t reserved1;
	uint16_t cid;
	uint8_t fctype; /**< SPIO_NVMF_FABRIC_COMMAND_PROPERTY_SET */
	uint8_t reserved2[35];
	struct {
		uint8_t size : 3; /**< SPIO_NVMF_PROP_SIZE_* */
		uint8_t reserved : 5;
	} attrib;
	uint8_t reserved3[3];
	uint32_t ofst;
	union {
		uint64_t u64;
		struct {
			uint32_t low;
			uint32_t high;
		} u32;
	} value;
	uint8_t reserved4[8];
};
SPIO_SPEC_SIZE(struct spio_nvmf_fabric_prop_set_cmd, 64);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_prop_set_cmd, attrib, 40);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_prop_set_cmd, ofst, 44);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_prop_set_cmd, value, 48);

/** Authentication Send / Receive command, 64 bytes (NVMe over Fabrics 1.1, in-band authentication).
 */
struct spio_nvmf_fabric_auth_cmd {
	uint8_t opcode;
	uint8_t reserved1;
	uint16_t cid;
	uint8_t fctype; /**< AUTHENTICATION_SEND or _RECV */
	uint8_t reserved2[19];
	struct spio_nvme_sgl_descriptor sgl1;
	uint8_t reserved3;
	uint8_t spsp0; /**< SP specific */
	uint8_t spsp1;
	uint8_t secp;	 /**< security protocol, 0xe9 for NVMe */
	uint32_t length; /**< send: transfer length; receive: allocation length */
	uint8_t reserved4[16];
};
SPIO_SPEC_SIZE(struct spio_nvmf_fabric_auth_cmd, 64);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_auth_cmd, sgl1, 24);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_auth_cmd, spsp0, 41);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_auth_cmd, secp, 43);
SPIO_SPEC_OFF(struct spio_nvmf_fabric_auth_cmd, length, 44);

/* ---------------------------------------------------------------------- */
/* NVMe/TCP PDUs (NVMe/TCP Transport Specification 1.0 section 3.6)        */
/* ---------------------------------------------------------------------- */

/** PDU types. */
enum spio_nvme_tcp_pdu_type {
	SPIO_NVME_TCP_PDU_TYPE_IC_REQ = 0x00,	    /**< host: initialize connection */
	SPIO_NVME_TCP_PDU_TYPE_IC_RESP = 0x01,	    /**< controller: its answer */
	SPIO_NVME_TCP_PDU_TYPE_H2C_TERM_REQ = 0x02, /**< host: terminate the connection */
	SPIO_NVME_TCP_PDU_TYPE_C2H_TERM_REQ = 0x03, /**< controller: terminate the connection */
	SPIO_NVME_TCP_PDU_TYPE_CAPSULE_CMD = 0x04,  /**< host: command capsule */
	SPIO_NVME_TCP_PDU_TYPE_CAPSULE_RESP = 0x05, /**< controller: response capsule */
	SPIO_NVME_TCP_PDU_TYPE_H2C_DATA = 0x06,	    /**< host: data asked for by an R2T */
	SPIO_NVME_TCP_PDU_TYPE_C2H_DATA = 0x07,	    /**< controller: read data */
	SPIO_NVME_TCP_PDU_TYPE_R2T = 0x09,	    /**< controller: ready to transfer */
};

/** Common header flags: a header / data digest follows. */
#define SPIO_NVME_TCP_CH_FLAGS_HDGSTF (1u << 0)
#define SPIO_NVME_TCP_CH_FLAGS_DDGSTF (1u << 1)
/** H2C data flag: last PDU of the R2T's data. */
#define SPIO_NVME_TCP_H2C_DATA_FLAGS_LAST_PDU (1u << 2)
/** C2H data flags: last PDU of the command's data; SUCCESS: no CapsuleResp follows. */
#define SPIO_NVME_TCP_C2H_DATA_FLAGS_LAST_PDU (1u << 2)
#define SPIO_NVME_TCP_C2H_DATA_FLAGS_SUCCESS (1u << 3)

/** Header and data digests: CRC32C, 4 bytes. */
#define SPIO_NVME_TCP_DIGEST_LEN 4
/** The only PDU format version: 1.0. */
#define SPIO_NVME_TCP_PFV_1_0 0
/** Largest HPDA / CPDA: data aligned to (pda + 1) * 4 bytes. */
#define SPIO_NVME_TCP_HPDA_MAX 31
#define SPIO_NVME_TCP_CPDA_MAX 31
/** Largest PDU data offset a PDA allows: (31 + 1) * 4. */
#define SPIO_NVME_TCP_PDU_PDO_MAX_OFFSET ((SPIO_NVME_TCP_CPDA_MAX + 1) << 2)
/** Most bytes of the offending PDU header a TermReq carries as its data. */
#define SPIO_NVME_TCP_TERM_REQ_ERROR_DATA_MAX_SIZE 128
/** Largest TermReq PDU (plen): 24-byte header + 128 bytes of data. */
#define SPIO_NVME_TCP_TERM_REQ_PDU_MAX_SIZE 152
/** Smallest MAXH2CDATA a controller may announce. */
#define SPIO_NVME_TCP_MIN_MAXH2CDATA 4096

/** Common PDU header, 8 bytes: starts every PDU. */
struct spio_nvme_tcp_common_pdu_hdr {
	uint8_t pdu_type; /**< enum spio_nvme_tcp_pdu_type */
	uint8_t flags;	  /**< SPIO_NVME_TCP_*_FLAGS_* */
	uint8_t hlen;	  /**< header length, without the header digest */
	uint8_t pdo;	  /**< offset of the data from the PDU start, 0 = no data */
	uint32_t plen;	  /**< whole PDU: header, digests, padding and data */
};
SPIO_SPEC_SIZE(struct spio_nvme_tcp_common_pdu_hdr, 8);
SPIO_SPEC_OFF(struct spio_nvme_tcp_common_pdu_hdr, flags, 1);
SPIO_SPEC_OFF(struct spio_nvme_tcp_common_pdu_hdr, hlen, 2);
SPIO_SPEC_OFF(struct spio_nvme_tcp_common_pdu_hdr, pdo, 3);
SPIO_SPEC_OFF(struct spio_nvme_tcp_common_pdu_hdr, plen, 4);

/** Digest negotiation byte of ICReq / ICResp. */
union spio_nvme_tcp_dgst {
	uint8_t raw;
	struct {
		uint8_t hdgst_enable : 1;
		uint8_t ddgst_enable : 1;
		uint8_t reserved : 6;
	} bits;
};
SPIO_SPEC_SIZE(union spio_nvme_tcp_dgst, 1);

/** ICReq PDU, 128 bytes: the host's connection parameters. */
struct spio_nvme_tcp_ic_req {
	struct spio_nvme_tcp_common_pdu_hdr common;
	uint16_t pfv;		       /**< SPIO_NVME_TCP_PFV_1_0 */
	uint8_t hpda;		       /**< host PDU data alignment the controller must use */
	union spio_nvme_tcp_dgst dgst; /**< digests the host asks for */
	uint32_t maxr2t;	       /**< outstanding R2Ts per command, 0's based */
	uint8_t reserved16[112];
};
SPIO_SPEC_SIZE(struct spio_nvme_tcp_ic_req, 128);
SPIO_SPEC_OFF(struct spio_nvme_tcp_ic_req, pfv, 8);
SPIO_SPEC_OFF(struct spio_nvme_tcp_ic_req, hpda, 10);
SPIO_SPEC_OFF(struct spio_nvme_tcp_ic_req, dgst, 11);
SPIO_SPEC_OFF(struct spio_nvme_tcp_ic_req, maxr2t, 12);

/** ICResp PDU, 128 bytes: the controller's answer. */
struct spio_nvme_tcp_ic_resp {
	struct spio_nvme_tcp_common_pdu_hdr common;
	uint16_t pfv;
	uint8_t cpda;		       /**< controller PDU data alignment the host must use */
	union spio_nvme_tcp_dgst dgst; /**< digests in force for the connection */
	uint32_t maxh2cdata;	       /**< largest H2C data PDU payload, bytes */
	uint8_t reserved16[112];
};
SPIO_SPEC_SIZE(struct spio_nvme_tcp_ic_resp, 128);
SPIO_SPEC_OFF(struct spio_nvme_tcp_ic_resp, pfv, 8);
SPIO_SPEC_OFF(struct spio_nvme_tcp_ic_resp, cpda, 10);
SPIO_SPEC_OFF(struct spio_nvme_tcp_ic_resp, dgst, 11);
SPIO_SPEC_OFF(struct spio_nvme_tcp_ic_resp, maxh2cdata, 12);

/**
 * H2CTermReq / C2HTermReq header, 24 bytes; the data (at most
 * SPIO_NVME_TCP_TERM_REQ_ERROR_DATA_MAX_SIZE bytes) is the start of the
 * header of the PDU in error. Never carries digests.
 */
struct spio_nvme_tcp_term_req_hdr {
	struct spio_nvme_tcp_common_pdu_hdr common;
	uint16_t fes;	/**< fatal error status (enum spio_nvme_tcp_term_req_fes) */
	uint8_t fei[4]; /**< fatal error information, little-endian 32-bit (not aligned) */
	uint8_t reserved14[10];
};
SPIO_SPEC_SIZE(struct spio_nvme_tcp_term_req_hdr, 24);
SPIO_SPEC_OFF(struct spio_nvme_tcp_term_req_hdr, fes, 8);
SPIO_SPEC_OFF(struct spio_nvme_tcp_term_req_hdr, fei, 10);

/**
 * TermReq fatal error status values. FEI holds the byte offset of the bad
 * header field (INVALID_HEADER_FIELD, UNSUPPORTED_PARAMETER) and is reserved
 * for the others.
 */
enum spio_nvme_tcp_term_req_fes {
	SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD = 0x01,
	SPIO_NVME_TCP_TERM_REQ_FES_PDU_SEQUENCE_ERROR = 0x02,
	SPIO_NVME_TCP_TERM_REQ_FES_HDGST_ERROR = 0x03,
	/** data offset/length outside the command's buffer or the R2T's range */
	SPIO_NVME_TCP_TERM_REQ_FES_DATA_TRANSFER_OUT_OF_RANGE = 0x04,
	/** too many R2Ts (NVMe-oF 1.1 name of 0x05) */
	SPIO_NVME_TCP_TERM_REQ_FES_R2T_LIMIT_EXCEEDED = 0x05,
	/** PDU data beyond MAXH2CDATA (NVMe/TCP 1.0 name of 0x05) */
	SPIO_NVME_TCP_TERM_REQ_FES_DATA_TRANSFER_LIMIT_EXCEEDED = 0x05,
	SPIO_NVME_TCP_TERM_REQ_FES_UNSUPPORTED_PARAMETER = 0x06,
};

/**
 * CapsuleCmd PDU header, 72 bytes: the SQE. In-capsule data, if any, follows
 * at pdo.
 */
struct spio_nvme_tcp_cmd {
	struct spio_nvme_tcp_common_pdu_hdr common;
	struct spio_nvme_cmd ccsqe;
};
SPIO_SPEC_SIZE(struct spio_nvme_tcp_cmd, 72);
SPIO_SPEC_OFF(struct spio_nvme_tcp_cmd, ccsqe, 8);

/** CapsuleResp PDU, 24 bytes: the CQE. */
struct spio_nvme_tcp_rsp {
	struct spio_nvme_tcp_common_pdu_hdr common;
	struct spio_nvme_cpl rccqe;
};
SPIO_SPEC_SIZE(struct spio_nvme_tcp_rsp, 24);
SPIO_SPEC_OFF(struct spio_nvme_tcp_rsp, rccqe, 8);

/** H2CData PDU header, 24 bytes: host data for an R2T. */
struct spio_nvme_tcp_h2c_data_hdr {
	struct spio_nvme_tcp_common_pdu_hdr common;
	uint16_t cccid; /**< command capsule cid */
	uint16_t ttag;	/**< transfer tag from the R2T */
	uint32_t datao; /**< offset into the command's data */
	uint32_t datal; /**< bytes in this PDU */
	uint8_t reserved20[4];
};
SPIO_SPEC_SIZE(struct spio_nvme_tcp_h2c_data_hdr, 24);
SPIO_SPEC_OFF(struct spio_nvme_tcp_h2c_data_hdr, cccid, 8);
SPIO_SPEC_OFF(struct spio_nvme_tcp_h2c_data_hdr, ttag, 10);
SPIO_SPEC_OFF(struct spio_nvme_tcp_h2c_data_hdr, datao, 12);
SPIO_SPEC_OFF(struct spio_nvme_tcp_h2c_data_hdr, datal, 16);

/** C2HData PDU header, 24 bytes: controller data for a command. */
struct spio_nvme_tcp_c2h_data_hdr {
	struct spio_nvme_tcp_common_pdu_hdr common;
	uint16_t cccid;
	uint8_t reserved10[2];
	uint32_t datao;
	uint32_t datal;
	uint8_t reserved20[4];
};
SPIO_SPEC_SIZE(struct spio_nvme_tcp_c2h_data_hdr, 24);
SPIO_SPEC_OFF(struct spio_nvme_tcp_c2h_data_hdr, cccid, 8);
SPIO_SPEC_OFF(struct spio_nvme_tcp_c2h_data_hdr, datao, 12);
SPIO_SPEC_OFF(struct spio_nvme_tcp_c2h_data_hdr, datal, 16);

/** R2T PDU, 24 bytes: the controller asks for a range of a command's data. */
struct spio_nvme_tcp_r2t_hdr {
	struct spio_nvme_tcp_common_pdu_hdr common;
	uint16_t cccid;
	uint16_t ttag; /**< echoed in the H2CData PDUs */
	uint32_t r2to; /**< offset into the command's data */
	uint32_t r2tl; /**< length requested */
	uint8_t reserved20[4];
};
SPIO_SPEC_SIZE(struct spio_nvme_tcp_r2t_hdr, 24);
SPIO_SPEC_OFF(struct spio_nvme_tcp_r2t_hdr, cccid, 8);
SPIO_SPEC_OFF(struct spio_nvme_tcp_r2t_hdr, ttag, 10);
SPIO_SPEC_OFF(struct spio_nvme_tcp_r2t_hdr, r2to, 12);
SPIO_SPEC_OFF(struct spio_nvme_tcp_r2t_hdr, r2tl, 16);

#undef SPIO_SPEC_SIZE
#undef SPIO_SPEC_OFF

#ifdef __cplusplus
}
#endif

#endif /* SPIO_NVME_SPEC_H */
