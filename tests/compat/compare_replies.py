#!/usr/bin/env python3
"""Compare spio_tgt's replies to tests/compat/cases.txt with SPDK's recorded
ones (tests/compat/spdk_replies/): same success or error, the same error
code, and on success SPDK's keys with SPDK's JSON types at every level
(spio may add keys). Prints one line per difference; exits 1 if any.

Usage: compare_replies.py CASES REF_DIR ACTUAL_DIR
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_cases import load_cases  # noqa: E402

# Whose content differs by design: module-specific info, per-status counters.
OPAQUE = {"driver_specific", "io_error"}


def kind(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "number"
    if v is None:
        return "null"
    return type(v).__name__


def shape_diff(ref, act, path, out):
    if kind(ref) != kind(act):
        out.append("%s: SPDK has %s, spio has %s" % (path or "result", kind(ref), kind(act)))
        return
    if isinstance(ref, dict):
        for k, v in ref.items():
            if k not in act:
                out.append("%s: missing key %r" % (path or "result", k))
            elif k not in OPAQUE:
                shape_diff(v, act[k], "%s.%s" % (path, k) if path else k, out)
            elif kind(v) != kind(act[k]):
                out.append("%s.%s: SPDK has %s, spio has %s" % (path, k, kind(v), kind(act[k])))
    elif isinstance(ref, list) and ref and act:
        shape_diff(ref[0], act[0], path + "[0]", out)


def main():
    cases_path, ref_dir, act_dir = sys.argv[1:4]
    problems = 0
    for name, mode, args in load_cases(cases_path):
        with open(os.path.join(ref_dir, name + ".json")) as r:
            ref = json.load(r)
        with open(os.path.join(act_dir, name + ".json")) as a:
            act = json.load(a)
        out = []
        if ("error" in ref) != ("error" in act):
            out.append("SPDK %s, spio %s" % (
                "error %s" % ref["error"]["code"] if "error" in ref else "succeeds",
                "error %s (%s)" % (act["error"]["code"], act["error"]["message"])
                if "error" in act else "succeeds"))
        elif "error" in ref:
            if ref["error"]["code"] != act["error"]["code"]:
                out.append("error code: SPDK %s (%s), spio %s (%s)" % (
                    ref["error"]["code"], ref["error"]["message"], act["error"]["code"],
                    act["error"]["message"]))
        elif mode == "type":
            if kind(ref["result"]) != kind(act["result"]):
                out.append("result: SPDK has %s, spio has %s" % (kind(ref["result"]),
                                                                  kind(act["result"])))
        else:
            shape_diff(ref["result"], act["result"], "", out)
            if mode == "exact" and not isinstance(ref["result"], (dict, list)) and \
                    ref["result"] != act["result"]:
                out.append("result: SPDK %r, spio %r" % (ref["result"], act["result"]))
        for o in out:
            print("%s (rpc.py %s): %s" % (name, args, o))
        problems += len(out)
    if problems:
        print("compare_replies: %d difference(s) from SPDK" % problems)
        sys.exit(1)
    print("compare_replies: every case matches SPDK")


if __name__ == "__main__":
    main()
