#!/usr/bin/env python3
"""Write the seed corpus of the json_config fuzzer (fuzz_json_config.c).

    rm tests/fuzz/corpus/json_config/[!c]*      # keep crash-* inputs
    tests/fuzz/gen_json_config_corpus.py tests/fuzz/corpus/json_config

Seeds: the SPDK configurations of tests/compat/spdk_configs/ and spio_tgt's
malloc0.json as they are (their malloc bdevs are above the fuzzer's 32 MiB
cap, and nvmf listeners and nvme controllers are refused, so they stop
there), the same made to run through (bdevs of 8 MiB, no listener, no
controller), configurations written here for every bdev module, lvol and
nvmf, and broken ones.
"""
import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
REFUSED = {"nvmf_subsystem_add_listener", "bdev_nvme_attach_controller"}


def small(cfg):
    """The configuration with malloc bdevs of 8 MiB and nothing the fuzzer refuses."""
    for sub in cfg.get("subsystems", []):
        entries = sub.get("config") or []
        keep = []
        for e in entries:
            if e.get("method") in REFUSED:
                continue
            p = e.get("params") or {}
            if e.get("method") == "bdev_malloc_create":
                p["num_blocks"] = (8 << 20) // p.get("block_size", 512)
            keep.append(e)
        if sub.get("config") is not None:
            sub["config"] = keep
    return cfg


def entry(method, **params):
    e = {"method": method}
    if params:
        e["params"] = params
    return e


def bdev(*entries, extra=()):
    return {"subsystems": [{"subsystem": "bdev", "config": list(entries)}] + list(extra)}


def main():
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)

    def write(name, data):
        if isinstance(data, (dict, list)):
            data = json.dumps(data, indent=2) + "\n"
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)

    sources = sorted(glob.glob(os.path.join(ROOT, "tests/compat/spdk_configs/*.json")))
    for path in sources:
        name = "spdk-" + os.path.basename(path)
        with open(path, "rb") as f:
            text = f.read()
        write(name, text)
        write(name.replace(".json", "-small.json"), small(json.loads(text)))
    with open(os.path.join(ROOT, "app/spio_tgt/malloc0.json"), "rb") as f:
        text = f.read()
    write("spio-tgt-malloc0.json", text)
    write("spio-tgt-malloc0-small.json", small(json.loads(text)))

    m0 = entry("bdev_malloc_create", name="Malloc0", num_blocks=16384, block_size=512)
    write("vbdev-stack.json", bdev(
        m0, entry("bdev_passthru_create", base_bdev_name="Malloc0", name="PT0"),
        entry("bdev_error_create", base_name="PT0"),
        entry("bdev_delay_create", base_bdev_name="EE_PT0", name="Delay0",
              avg_read_latency=10, p99_read_latency=20, avg_write_latency=30,
              p99_write_latency=40),
        entry("bdev_null_create", name="Null0", num_blocks=8192, block_size=4096),
        entry("bdev_split_create", base_bdev="Null0", split_count=4),
        entry("bdev_get_bdevs"), entry("bdev_wait_for_examine")))
    write("lvol.json", bdev(
        m0, entry("bdev_lvol_create_lvstore", bdev_name="Malloc0", lvs_name="lvs0",
                  cluster_sz=1048576),
        entry("bdev_lvol_create", lvs_name="lvs0", lvol_name="lv0", size_in_mib=2,
              thin_provision=True),
        entry("bdev_lvol_snapshot", lvol_name="lvs0/lv0", snapshot_name="snap0"),
        entry("bdev_lvol_clone", snapshot_name="lvs0/snap0", clone_name="clone0"),
        entry("bdev_lvol_get_lvols")))
    write("startup-options.json", bdev(
        entry("bdev_set_options", bdev_io_pool_size=1024, bdev_io_cache_size=16,
              bdev_auto_examine=False),
        m0, entry("bdev_wait_for_examine")))
    write("startup-options-bad.json", bdev(
        entry("bdev_set_options", bdev_io_pool_size=1, bdev_io_cache_size=256)))
    write("nvmf-no-network.json", bdev(m0, extra=[{"subsystem": "nvmf", "config": [
        entry("nvmf_set_max_subsystems", max_subsystems=8),
        entry("nvmf_create_transport", trtype="TCP", num_shared_buffers=64,
              io_unit_size=8192),
        entry("nvmf_create_subsystem", nqn="nqn.2016-06.io.spdk:cnode1",
              allow_any_host=True, serial_number="SPDK00000000000001"),
        entry("nvmf_subsystem_add_ns", nqn="nqn.2016-06.io.spdk:cnode1",
              namespace={"nsid": 1, "bdev_name": "Malloc0"}),
        entry("nvmf_subsystem_add_host", nqn="nqn.2016-06.io.spdk:cnode1",
              host="nqn.2014-08.org.nvmexpress:uuid:0b6bbd0e-4a1c-4f6b-9d2a-6b1f1e2d3c4b"),
        entry("nvmf_get_subsystems")]}]))
    write("framework-queries.json", {"subsystems": [
        {"subsystem": "bdev", "config": [m0, entry("framework_get_config", name="bdev"),
                                         entry("save_config"), entry("rpc_get_methods"),
                                         entry("framework_get_reactors"),
                                         entry("thread_get_stats")]}]})
    write("foreign-subsystems.json", {"subsystems": [
        {"subsystem": "accel", "config": [entry("accel_set_options", small_cache_size=128,
                                                 large_cache_size=16)]},
        {"subsystem": "vmd", "config": []}, {"subsystem": "scheduler", "config": None},
        {"subsystem": "bdev", "config": None}]})
    write("empty.json", {"subsystems": []})
    write("crash-framework-wait-init-deadlock.json", bdev(entry("framework_wait_init")))
    # Broken ones: the loader must refuse each with an error.
    write("bad-syntax.json", '{"subsystems": [{"subsystem": "bdev", "config": [}]}')
    write("bad-duplicate-key.json",
          '{"subsystems": [{"subsystem": "bdev", "subsystem": "nvmf", "config": []}]}')
    write("bad-top-level.json", '[{"subsystem": "bdev"}]')
    write("bad-subsystems-type.json", '{"subsystems": {"bdev": []}}')
    write("bad-unknown-subsystem.json", '{"subsystems": [{"subsystem": "raid", "config": []}]}')
    write("bad-entry.json", bdev({"params": {}}, "bdev_get_bdevs", 7))
    write("bad-params.json", bdev(
        entry("bdev_malloc_create", name="M", num_blocks="lots", block_size=-1),
        {"method": "bdev_get_bdevs", "params": 5}))
    write("bad-unknown-method.json", bdev(entry("bdev_raid_create", name="r")))
    write("bad-runtime-failure.json", bdev(
        m0, m0, entry("bdev_malloc_delete", name="Malloc0")))
    write("bad-truncated.json", json.dumps(bdev(m0))[:70])


if __name__ == "__main__":
    main()
