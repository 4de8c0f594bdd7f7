#!/usr/bin/env python3
"""Write tests/compat/spdk_params.tsv: for each method spio implements, every
parameter SPDK's schema (schema/schema.yaml in SPDK's tree) gives it, with
its type and, for enums, one value SPDK accepts. test_spdk_params.sh sends
them all to spio_tgt: none may be refused as unknown.

Usage: scripts/gen-spdk-params.py SPDK_SCHEMA_YAML [out.tsv]
(The methods are those docs/porting_status.tsv marks yes or limits.)
"""
import os
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    schema = yaml.safe_load(open(sys.argv[1]))
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "tests/compat/spdk_params.tsv")
    ours = set()
    with open(os.path.join(ROOT, "docs/porting_status.tsv")) as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= 2 and cols[1] in ("yes", "limits"):
                ours.add(cols[0])
    enums = {e["name"]: e["fields"][0]["name"] for e in schema["enums"]}
    rows = []
    for m in schema["methods"]:
        if m["name"] not in ours:
            continue
        for p in m.get("params") or []:
            example = enums.get(p.get("class"), "") if p["type"] == "enum" else ""
            rows.append((m["name"], p["name"], p["type"], "required" if p.get("required") else "",
                         example))
    with open(out, "w") as f:
        f.write("# method\tparameter\ttype\trequired\tenum example -- from SPDK's schema.yaml "
                "(scripts/gen-spdk-params.py)\n")
        for r in rows:
            f.write("\t".join(r) + "\n")
    print("gen-spdk-params: %d parameters of %d methods" % (len(rows), len({r[0] for r in rows})))


if __name__ == "__main__":
    main()
