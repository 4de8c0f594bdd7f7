#!/usr/bin/env python3
"""Seeds of the cmdline fuzzer (tests/fuzz/fuzz_cmdline.c): the command lines of
spio_perf, spio_rpc and spio_tgt used in tests/func/*.sh and docs/*.md, and bad
ones (bad masks, huge numbers, missing values, unknown options, -h).

    tests/fuzz/gen_cmdline_corpus.py tests/fuzz/corpus/cmdline

A seed is one selector byte (0 spio_perf, 1 spio_rpc, 2 spio_tgt; +0x80: the
first string is argv[0]) and then the arguments, NUL-separated. Shell
variables of the tests are replaced by plausible values. Files named crash-*
are left alone.
"""
import os
import re
import shlex
import sys

PROG = {"perf": 0, "rpc": 1, "tgt": 2}

# (name, program, command line after the program name)
SEEDS = [
    # --- spio_perf: tests/func/test_spio_perf.sh
    ("randread-json", "perf", "-c /tmp/t/bdevs.json --no-huge -b Null0 -q 32 -w randread -t 1 --json"),
    ("verify-mask", "perf", "-c /tmp/t/bdevs.json --no-huge -b Malloc0 -q 16 -w verify -t 2 -m 0x3 --json"),
    ("verify-null", "perf", "-c /tmp/t/bdevs.json --no-huge -b Null0 -q 4 -w verify -t 1"),
    ("randrw", "perf", "-c /tmp/t/bdevs.json --no-huge -w randrw -M 70 -q 8 -o 4k -t 1"),
    ("io-count", "perf", "-c /tmp/t/bdevs.json --no-huge -b Null0 -b Malloc0 -q 8 -n 5000 --json"),
    ("sigint", "perf", "-c /tmp/t/bdevs.json --no-huge -b Null0 -t 60 -q 8 --json"),
    ("bad-bogus", "perf", "--bogus"),
    ("bad-q0", "perf", "-q 0"),
    ("bad-q5000", "perf", "-q 5000"),
    ("bad-workload", "perf", "-w sideways"),
    ("bad-io-size", "perf", "-o 4x"),
    ("bad-M101", "perf", "-M 101"),
    ("bad-t0", "perf", "-t 0"),
    ("bad-n0", "perf", "-n 0"),
    ("bad-n-many", "perf", "-n many"),
    ("bad-mask", "perf", "-m 0xz"),
    ("bad-extra", "perf", "extra"),
    ("o1000", "perf", "-c /tmp/t/bdevs.json --no-huge -b Malloc0 -o 1000 -t 1"),
    ("unknown-bdev", "perf", "-c /tmp/t/bdevs.json --no-huge -b Nope -t 1"),
    ("h", "perf", "-h"),
    # tests/func/test_kernel_bdevs.sh, test_bdev_input_tgt.sh
    ("verify-16k", "perf", "-c /tmp/t/perf.json --no-huge -q 16 -o 16k -w verify -t 2 --json"),
    ("mask0", "perf", "-m 0x0 -t 1"),
    # docs/spio_perf.md, docs/PERFORMANCE.md
    ("doc-randread", "perf", "-c bdevs.json -b Null0 -q 128 -o 4k -w randread -t 10 -m 0x3"),
    ("doc-randrw-json", "perf", "-c bdevs.json -q 32 -o 128k -w randrw -M 70 -t 5 --json"),
    ("doc-verify", "perf", "-c bdevs.json -b Malloc0 -q 16 -w verify -t 30 -m 0x3"),
    ("doc-json-file", "perf", "--json bdevs.json"),
    ("doc-file-n", "perf", "-c conf.json -b File0 -q 32 -o 4k -w randread -m 0x1 -n 250000"),
    ("doc-null-5s", "perf", "-b Null0 -q 128 -o 4k -w randread -t 5 -m 0x1"),
    # more: long options, clusters, SPDK's common options, bad values
    ("long-eq", "perf", "--bdev=Null0 --queue-depth=64 --io-size=1M --workload=rw --rwmixread=0 --time=1000000 --io-count=1"),
    ("long-abbrev", "perf", "--queue 8 --work write --io-s 512 --rw 100"),
    ("long-ambiguous", "perf", "--i 4"),
    ("cluster", "perf", "-q8 -w randwrite -bNull0 -t3"),
    ("spdk-ignored", "perf", "-d -g -R -u --disable-cpumask-locks --mem-size 512M"),
    ("spdk-refused", "perf", "-e 0xff"),
    ("shm-id", "perf", "-i 1"),
    ("pci-allowed", "perf", "-A 0000:00:04.0"),
    ("huge-q", "perf", "-q 18446744073709551616"),
    ("huge-n", "perf", "-n 18446744073709551615"),
    ("huge-o", "perf", "-o 1099511627776"),
    ("huge-t", "perf", "-t 99999999999999999999999"),
    ("neg-q", "perf", "-q -1"),
    ("missing-q", "perf", "-q"),
    ("missing-long", "perf", "--workload"),
    ("json-arg", "perf", "--json=x"),
    ("mask-list", "perf", "-m [0-3,7] -p 2 --idle adaptive --log-level debug -L thread -L bdev,app"),
    ("mask-huge", "perf", "-m 0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
    ("main-core-1024", "perf", "-p 1024"),
    ("mem-size-odd", "perf", "-s 1000001"),
    ("logflag-bad", "perf", "-L ,thread"),
    ("silence", "perf", "--silence-noticelog -r /tmp/x.sock --no-rpc-server"),
    ("version", "perf", "-v"),
    ("double-dash", "perf", "-- -q 8"),
    ("unknown-letter", "perf", "-z"),
    ("unknown-in-cluster", "perf", "-gzq 8"),
    ("empty-arg", "perf", "''"),
    ("empty-config", "perf", "-c ''"),
    # --- spio_rpc: tests/func/test_spio_rpc.sh
    ("echo-params", "rpc", "-s /tmp/t/rpc.sock echo --name Malloc0 --num_blocks 1024 --flag --ratio 0.5 --obj '{\"a\":[1,2]}' --quoted '\"42\"' --big 18446744073709551615 --last"),
    ("echo", "rpc", "-s /tmp/t/rpc.sock echo"),
    ("call-object", "rpc", "-s /tmp/t/rpc.sock call echo '{\"x\": [true, null, \"s\"]}'"),
    ("call-array", "rpc", "-s /tmp/t/rpc.sock -t 5 call echo '[1, 2]'"),
    ("version", "rpc", "-s /tmp/t/rpc.sock spdk_get_version"),
    ("get-methods", "rpc", "-s /tmp/t/rpc.sock rpc_get_methods --current"),
    ("unknown-method", "rpc", "-s /tmp/t/rpc.sock no_such_method"),
    ("bad-params", "rpc", "-s /tmp/t/rpc.sock rpc_get_methods --current 5"),
    ("absent-sock", "rpc", "-s /tmp/t/absent.sock spdk_get_version"),
    ("bad-no-method", "rpc", "-s /tmp/t/rpc.sock"),
    ("bad-pair", "rpc", "-s /tmp/t/rpc.sock echo name x"),
    ("bad-call-no-method", "rpc", "-s /tmp/t/rpc.sock call"),
    ("bad-call-json", "rpc", "-s /tmp/t/rpc.sock call echo '{bad'"),
    ("bad-call-scalar", "rpc", "-s /tmp/t/rpc.sock call echo 5"),
    ("bad-timeout", "rpc", "-s /tmp/t/rpc.sock -t abc echo"),
    ("bad-option", "rpc", "-x echo"),
    ("h", "rpc", "-h"),
    # test_daemon_signals.sh, test_spio_tgt.sh, test_kernel_bdevs.sh, test_bdev_input_tgt.sh, test_nvmf_tgt_host.sh
    ("malloc-delete", "rpc", "-s /tmp/t/spio.sock bdev_malloc_delete --name nope"),
    ("reactors", "rpc", "-s /tmp/t/spio.sock framework_get_reactors"),
    ("thread-stats", "rpc", "-s /tmp/t/spio.sock thread_get_stats"),
    ("save-config", "rpc", "-s /tmp/t/spio.sock save_config"),
    ("nvmf-stats", "rpc", "-s /tmp/t/spio.sock nvmf_get_stats"),
    ("get-bdevs-name", "rpc", "-s /tmp/t/spio.sock bdev_get_bdevs --name Uring0"),
    ("uring-create", "rpc", "-s /tmp/t/spio.sock bdev_uring_create --name Uring1 --filename /tmp/t/u1.img --block_size 4096 --queue_depth 64 --registered_buffers"),
    ("aio-create-ro", "rpc", "-s /tmp/t/spio.sock bdev_aio_create --name Aio1 --filename /tmp/t/u1.img --readonly"),
    ("uring-rescan", "rpc", "-s /tmp/t/spio.sock bdev_uring_rescan --name Uring0"),
    ("unknown-param", "rpc", "-s /tmp/t/spio.sock bdev_uring_create --name Bad --filename /tmp/t/u1.img --colour red"),
    ("direct-false", "rpc", "-s /tmp/t/spio.sock -t 5 bdev_uring_create --name F1 --filename /tmp/t/fifo --direct false"),
    ("null-2p64", "rpc", "-s /tmp/t/spio.sock -t 5 bdev_null_create --name N1 --num_blocks 18446744073709551615 --block_size 512"),
    ("null-2p51", "rpc", "-s /tmp/t/spio.sock -t 5 bdev_null_create --name N2 --num_blocks 2251799813685247 --block_size 4096"),
    ("malloc-513", "rpc", "-s /tmp/t/spio.sock -t 5 bdev_malloc_create --name M1 --num_blocks 8 --block_size 513"),
    ("newline-name", "rpc", "-s /tmp/t/spio.sock -t 5 bdev_aio_create --name L1 --filename '/tmp/t/x\nerror: forged line'"),
    # docs/rpc.md, docs/app.md, docs/kernel_bdevs.md
    ("doc-malloc", "rpc", "bdev_malloc_create --name Malloc0 --num_blocks 1024 --block_size 512"),
    ("doc-call", "rpc", "call bdev_get_bdevs '{\"name\": \"Malloc0\"}'"),
    ("doc-kill", "rpc", "spdk_kill_instance --sig_name SIGTERM"),
    ("doc-size", "rpc", "bdev_null_create --name N --size 18446744073709551615"),
    # more
    ("t0", "rpc", "-t 0 -s/tmp/x.sock echo"),
    ("t-huge", "rpc", "-t 1e7 echo"),
    ("t-nan", "rpc", "-t nan echo"),
    ("t-inf", "rpc", "-t inf echo"),
    ("t-missing", "rpc", "-t"),
    ("s-empty", "rpc", "-s '' echo"),
    ("method-dash", "rpc", "-- -echo"),
    ("method-empty", "rpc", "''"),
    ("key-empty", "rpc", "echo -- x"),
    ("key-dup", "rpc", "echo --a 1 --a 2 --a"),
    ("deep-json", "rpc", "echo --x " + shlex.quote("[" * 40 + "]" * 40)),
    ("big-real", "rpc", "echo --x 1e400 --y -0 --z 1.5e-400"),
    ("call-extra", "rpc", "call echo '{}' extra"),
    ("call-call", "rpc", "call call"),
    ("cluster-h", "rpc", "-hs x"),
    ("option-after-method", "rpc", "echo -s x"),
    ("non-utf8-key", "rpc", "echo $'--\\xc3' 1"),
    ("non-utf8-value", "rpc", "echo --a $'\\xe2\\x82'"),
    ("nul-escape", "rpc", "echo --a '\"\\u0000\"'"),
    # --- spio_tgt: tests/func/spio_tgt_lib.sh, test_spio_tgt.sh, test_daemon_signals.sh
    ("start", "tgt", "-m 0x3 -r /tmp/t/spio.sock --no-huge"),
    ("start-config", "tgt", "-m 0x3 -r /tmp/t/spio.sock --no-huge -c /tmp/t/conf.json"),
    ("h", "tgt", "-h"),
    ("bad-bogus", "tgt", "--bogus"),
    ("bad-idle", "tgt", "--idle sometimes"),
    ("bad-mask", "tgt", "-m 0xz -r /tmp/t/spio.sock"),
    # docs/app.md, docs/nvmf.md, Makefile
    ("doc-malloc0", "tgt", "-c app/spio_tgt/malloc0.json"),
    ("doc-mask-malloc0", "tgt", "-m 0x3 -c app/spio_tgt/malloc0.json"),
    ("doc-json", "tgt", "--json my.json"),
    # more
    ("operand", "tgt", "-m 0x1 extra"),
    ("mask-list", "tgt", "-m [0,2-3] -p 3 -s 1G --log-level info -L all --idle poll"),
    ("mask-empty-list", "tgt", "-m []"),
    ("mask-0", "tgt", "-m 0x0"),
    ("main-core-neg", "tgt", "-p -1"),
    ("mem-channels", "tgt", "-n 4 -n x"),
    ("wait-for-rpc", "tgt", "--wait-for-rpc"),
    ("iova", "tgt", "--iova-mode pa"),
    ("no-arg-eq", "tgt", "--no-huge=1"),
    ("missing-c", "tgt", "-c"),
    ("version-h", "tgt", "-vh"),
    ("log-level-bad", "tgt", "--log-level loud"),
    ("many-L", "tgt", " ".join(["-L " + "f" * 200] * 6)),
]


def args_of(line):
    """shlex, plus bash's $'...' for the seeds that need raw bytes."""
    out = []
    for tok in shlex.split(line.replace("$'", "'$")):
        if tok.startswith("$"):
            tok = tok[1:].encode("latin-1").decode("unicode_escape").encode("latin-1")
        else:
            tok = tok.encode()
        out.append(tok)
    return out


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        if not f.startswith("crash-"):
            os.unlink(os.path.join(out, f))
    names = set()
    for name, prog, line in SEEDS:
        fname = f"{prog}-{name}"
        assert fname not in names, fname
        names.add(fname)
        data = bytes([PROG[prog]]) + b"\0".join(args_of(line))
        with open(os.path.join(out, fname), "wb") as f:
            f.write(data)
    # argv[0] from the input: a path, a long name, nothing
    extra = {
        "perf-argv0-path": bytes([0x80]) + b"/usr/local/bin/spio_perf\0-q\0" + b"0",
        "rpc-argv0-slash": bytes([0x81]) + b"bin/\0-x",
        "tgt-argv0-long": bytes([0x82]) + b"t" * 300 + b"\0--bogus",
        "tgt-argc0": bytes([0x82]),
        "rpc-argc0": bytes([0x81]),
    }
    for fname, data in extra.items():
        with open(os.path.join(out, fname), "wb") as f:
            f.write(data)
    print(f"{len(SEEDS) + len(extra)} seeds in {out}")


if __name__ == "__main__":
    main()
