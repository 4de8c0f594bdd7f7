#!/usr/bin/env python3
"""Run tests/compat/cases.txt through SPDK's rpc.py against a target and
write each reply (result or error object) as JSON.

Recording (done once, with SPDK built by ../shared/tools/build-spdk.sh):
  LD_LIBRARY_PATH=SPDK/build/lib SPDK/build/bin/spdk_tgt -m 0x1 --no-pci -r /tmp/spdk.sock &
  tests/compat/run_cases.py RPC_PY /tmp/spdk.sock tests/compat/spdk_replies
The test (test_spdk_cases.sh) runs the same cases against spio_tgt and
compares with compare_replies.py.
"""
import json
import os
import subprocess
import sys
import tempfile


def load_cases(path):
    cases = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            name, mode, args = line.split("\t")
            cases.append((name, mode, args))
    return cases


def run_case(rpcpy, sock, args, scratch):
    argv = args.replace("@DIR@", scratch).split()
    p = subprocess.run([sys.executable, rpcpy, "-s", sock] + argv, capture_output=True, text=True,
                       timeout=60)
    if p.returncode == 0:
        out = p.stdout.strip()
        try:
            result = json.loads(out) if out else None
        except ValueError:
            result = out  # rpc.py prints bare strings (bdev names) unquoted
        return {"result": result}
    # rpc.py prints the JSON-RPC error object after "response:"
    text = p.stderr + p.stdout
    i = text.find("response:")
    if i >= 0:
        try:
            err, _ = json.JSONDecoder().raw_decode(text[i + len("response:"):].lstrip())
            return {"error": err}
        except ValueError:
            pass
    return {"error": {"code": None, "message": text.strip()[-300:]}}


def main():
    rpcpy, sock, outdir = sys.argv[1:4]
    cases = load_cases(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases.txt"))
    os.makedirs(outdir, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        with open(os.path.join(scratch, "aio.img"), "wb") as f:
            f.truncate(64 << 20)
        for name, _mode, args in cases:
            reply = run_case(rpcpy, sock, args, scratch)
            with open(os.path.join(outdir, name + ".json"), "w") as f:
                json.dump(reply, f, indent=2, sort_keys=True)
                f.write("\n")
            print(name, "error %s" % reply["error"]["code"] if "error" in reply else "ok")


if __name__ == "__main__":
    main()
