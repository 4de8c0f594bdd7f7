#!/usr/bin/env python3
"""Write the seed corpus of the jsonrpc fuzzer (tests/fuzz/jsonrpc_input.h).

    rm tests/fuzz/corpus/jsonrpc/[!c]*      # keep crash-* inputs
    tests/fuzz/gen_jsonrpc_corpus.py tests/fuzz/corpus/jsonrpc \
        ../shared/clients/spdk-rpc/scripts/rpc.py

The parameters of the requests come from SPDK's rpc.py (--dry-run prints the
request it would send); the requests are then framed as its client sends
them (json.dumps(..., indent=2), ids counting from 1, a batch as one
array). Then malformed streams, written here by hand.
"""
import json
import os
import shlex
import subprocess
import sys

IDLE = 0x40
HURRY = 0x80
END_SETTLE, END_CLOSE, END_SHUT_WR, END_NO_READ = 0, 1, 2, 3

RPC = None


def dry(cmd):
    """The (method, params) rpc.py would send for `cmd`."""
    out = subprocess.run([sys.executable, RPC, "--dry-run"] + shlex.split(cmd),
                         check=True, capture_output=True, text=True).stdout
    req = json.loads(out.split("Request:", 1)[1])
    return req["method"], req.get("params")


def frame(cmds, first_id=1, notify=()):
    """rpc.py's stream: one indented request after another, newline-separated."""
    reqs = []
    for i, cmd in enumerate(cmds):
        method, params = dry(cmd) if " " in cmd or cmd in DRY_ALONE else (cmd, None)
        req = {"jsonrpc": "2.0", "method": method}
        if i not in notify:
            req["id"] = first_id + i
        if params:
            req["params"] = params
        reqs.append(req)
    return reqs


DRY_ALONE = {"bdev_get_bdevs", "rpc_get_methods", "spdk_get_version", "bdev_lvol_get_lvstores",
             "bdev_lvol_get_lvols", "bdev_get_iostat", "framework_get_subsystems"}


def stream(reqs):
    return "\n".join(json.dumps(r, indent=2) for r in reqs).encode()


def header(end=END_SETTLE, flags=0, chunks=()):
    assert len(chunks) <= 15
    h = bytes([len(chunks) | end << 4 | flags])
    for c in chunks:
        h += bytes([c & 0xff, c >> 8])
    return h


def at_requests(texts):
    """Chunk lengths that end at each request, so each is answered before the next is sent."""
    return [len(t) + 1 for t in texts[:-1][:15]]


def write(d, name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    global RPC
    d, RPC = sys.argv[1], sys.argv[2]
    os.makedirs(d, exist_ok=True)

    def seed(name, reqs, end=END_SETTLE, flags=0, chunks=None, batch=False):
        if batch:
            body = json.dumps(reqs, indent=2).encode()
        else:
            body = stream(reqs)
        if chunks == "each":
            texts = [json.dumps(r, indent=2) for r in reqs]
            chunks = at_requests(texts)
        write(d, name, header(end, flags, chunks or ()) + body)

    malloc = "bdev_malloc_create -b Malloc0 1 512"
    seed("get-version", frame(["spdk_get_version"]))
    seed("rpc-get-methods", frame(["rpc_get_methods", "rpc_get_methods --current"]))
    seed("malloc-create-get-delete",
         frame([malloc, "bdev_get_bdevs -b Malloc0", "bdev_malloc_delete Malloc0",
                "bdev_get_bdevs"]), chunks="each")
    seed("malloc-pipelined-create-delete-create",
         frame([malloc, "bdev_malloc_delete Malloc0", malloc, malloc,
                "bdev_malloc_create 4 4096", "bdev_get_bdevs"]))
    seed("null-create-resize-delete",
         frame(["bdev_null_create Null0 64 512", "bdev_null_resize Null0 128",
                "bdev_get_iostat", "bdev_null_delete Null0"]), chunks="each")
    seed("vbdev-stack",
         frame([malloc, "bdev_passthru_create -b Malloc0 -p PT0", "bdev_error_create PT0",
                "bdev_delay_create -b EE_PT0 -d Delay0 -r 10 -t 20 -w 30 -n 40",
                "bdev_delay_update_latency Delay0 avg_read 5",
                "bdev_error_inject_error EE_PT0 write failure -n 1", "bdev_get_bdevs",
                "bdev_delay_delete Delay0", "bdev_error_delete EE_PT0",
                "bdev_passthru_delete PT0", "bdev_malloc_delete Malloc0"]))
    # The examine reads wait 2 ms in the delay bdev: its delete answers only then.
    seed("delay-slow-delete",
         frame([malloc, "bdev_delay_create -b Malloc0 -d Delay0 -r 10 -t 20 -w 30 -n 40",
                "bdev_delay_update_latency Delay0 avg_read 2000", "bdev_delay_delete Delay0",
                "bdev_malloc_delete Malloc0"]), end=END_SHUT_WR)
    seed("delay-slow-delete-idle",
         frame([malloc, "bdev_delay_create -b Malloc0 -d Delay0 -r 10 -t 20 -w 30 -n 40",
                "bdev_delay_update_latency Delay0 avg_read 2000", "bdev_delay_delete Delay0"]),
         flags=IDLE)
    seed("split-left-behind",
         frame(["bdev_null_create Null0 16 512", "bdev_split_create Null0 4",
                "bdev_passthru_create -b Null0p1 -p PT1", "bdev_get_bdevs"]),
         chunks="each")
    seed("lvol-lifecycle",
         frame(["bdev_malloc_create -b Malloc0 4 512",
                "bdev_lvol_create_lvstore Malloc0 lvs0 -c 262144",
                "bdev_lvol_create -l lvs0 lv0 1", "bdev_lvol_snapshot lvs0/lv0 snap0",
                "bdev_lvol_clone lvs0/snap0 clone0", "bdev_lvol_rename lvs0/clone0 clone1",
                "bdev_lvol_resize lvs0/lv0 2", "bdev_lvol_inflate lvs0/clone1",
                "bdev_lvol_get_lvols", "bdev_lvol_get_lvstores",
                "bdev_lvol_delete lvs0/lv0", "bdev_lvol_delete_lvstore -l lvs0",
                "bdev_malloc_delete Malloc0"]), chunks="each")
    seed("lvol-left-behind",
         frame(["bdev_malloc_create -b Malloc0 4 512",
                "bdev_lvol_create_lvstore Malloc0 lvs0 -c 262144",
                "bdev_lvol_create -l lvs0 lv0 1 -t", "bdev_lvol_snapshot lvs0/lv0 snap0",
                "bdev_lvol_set_read_only lvs0/lv0"]), flags=HURRY, chunks=[40, 200, 7])
    seed("batch", frame([malloc, "bdev_get_bdevs", "spdk_get_version",
                         "bdev_malloc_delete Malloc0"], notify=(2,)), batch=True)
    seed("batch-notifications-only",
         frame(["spdk_get_version", "rpc_get_methods"], notify=(0, 1)), batch=True)
    seed("notifications", frame([malloc, "bdev_get_bdevs", "bdev_malloc_delete Malloc0"],
                                notify=(0, 2)))
    seed("byte-by-byte", frame(["spdk_get_version"]), chunks=[1] * 15)
    seed("shut-wr", frame([malloc, "bdev_get_bdevs"]), end=END_SHUT_WR)
    seed("close-early", frame([malloc, "bdev_get_bdevs", "rpc_get_methods"]), end=END_CLOSE)
    seed("no-read", frame(["rpc_get_methods"] * 20 + [malloc]), end=END_NO_READ)
    seed("refused-methods",
         frame(["bdev_aio_create /etc/passwd aio0", "spdk_kill_instance SIGTERM",
                "log_set_print_level DEBUG", "framework_wait_init",
                "bdev_set_options -p 1024"]))
    seed("capped-sizes",
         frame(["bdev_malloc_create -b Big 1048576 4096", "bdev_null_create Null0 4 512",
                "bdev_split_create Null0 100000"]))

    def raw(name, text, end=END_SETTLE, flags=0, chunks=()):
        write(d, name, header(end, flags, chunks) + text.encode("latin-1"))

    r = '{"jsonrpc":"2.0","method":"spdk_get_version","id":%s}'
    raw("ids", " ".join(r % i for i in
                        ['"a"', "0", "-1", "9223372036854775807", "1e3", "null",
                         '"\\u00e9\\u0000x"', "[1]", "{}", "true", "99999999999999999999"]))
    # An integer beyond int64 makes the server (and the fuzzer) read every integer as a real.
    raw("int-overflow-ids", r % 1 + '\n{"jsonrpc":true,"method":9223372036854775857,"id":2}\n',
        end=END_SHUT_WR)
    raw("empty-batch", '[] [ ] [1, "x", {}]')
    raw("bad-envelopes", " ".join([
        '{"jsonrpc":"1.0","method":"spdk_get_version","id":1}',
        '{"method":"spdk_get_version","id":2}',
        '{"jsonrpc":"2.0","id":3}',
        '{"jsonrpc":"2.0","method":7,"id":4}',
        '{"jsonrpc":"2.0","method":"spdk_get_version","params":5,"id":5}',
        '{"jsonrpc":"2.0","method":"no_such_method","id":6}',
        '{"jsonrpc":"2.0","method":"bdev_get_bdevs","params":{"name":"x","name":"y"},"id":7}',
        '{"jsonrpc":"2.0","method":"spdk_get_version","id":8,"id":9}',
        '{"jsonrpc":"2.0","method":"bdev_malloc_create","params":{"num_blocks":"8",'
        '"block_size":512,"bogus":1},"id":10}',
        '{"jsonrpc":"2.0","method":"bdev_malloc_create","params":[8,512],"id":11}',
        '"a string"', '42', 'null',
        '{"jsonrpc":"2.0","method":"spdk_get_version","id":12}']))
    raw("garbage-after-request", r % 1 + " }" + r % 2)
    raw("truncated", '{"jsonrpc":"2.0","method":"bdev_malloc_create","params":{"num_b')
    raw("truncated-shut-wr", '{"jsonrpc":"2.0","method":"spdk_get_versi', end=END_SHUT_WR)
    raw("scalar-at-eof", r % 1 + " 12345", end=END_SHUT_WR)
    raw("bad-syntax", r % 1 + ' {"jsonrpc":"2.0",,"id":2} ' + r % 3)
    raw("bad-utf8", '{"jsonrpc":"2.0","method":"spdk_get_version","id":"\xff\xfe"}')
    raw("deep-nesting", '{"jsonrpc":"2.0","method":"bdev_get_bdevs","params":' +
        "[" * 600 + "]" * 600 + ',"id":1}')
    raw("brackets-in-strings", '{"jsonrpc":"2.0","method":"bdev_get_bdevs","params":'
        '{"name":"]}[{\\"\\\\"},"id":"}{"}' + r % 2)
    raw("idle-partial", r % 1 + '{"jsonrpc":"2.0","meth', flags=IDLE)
    raw("idle-complete", r % 1, end=END_NO_READ, flags=IDLE)
    raw("cut-everywhere", r % 1 + r % 2 + r % 3, chunks=[3, 17, 1, 30, 2, 5, 40, 9])


if __name__ == "__main__":
    main()
