#!/usr/bin/env python3
"""Checks that an NVMe/TCP target answers an ICReq with a valid ICResp (stdlib only).

Usage: nvme_tcp_probe.py HOST PORT [--expect-closed] [--timeout S]
  default          exit 0 when the ICResp is valid (prints its fields), 1 otherwise
  --expect-closed  exit 0 when the connection is refused, reset or closed without an answer
                   (a disabled target port behind QEMU's port forward), 1 on an ICResp or silence
PDU layouts: NVMe/TCP transport specification, ICReq and ICResp (128 bytes each).
"""
import argparse
import socket
import struct
import sys

PDU_ICREQ = 0x00
PDU_ICRESP = 0x01
IC_LEN = 128


def icreq():
    # common header: type, flags, hlen, pdo, plen; then pfv 0, hpda 0, dgst 0, maxr2t 0
    hdr = struct.pack("<BBBBI", PDU_ICREQ, 0, IC_LEN, 0, IC_LEN)
    body = struct.pack("<HBBI", 0, 0, 0, 0)
    return hdr + body + bytes(IC_LEN - len(hdr) - len(body))


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--expect-closed", action="store_true")
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()
    where = f"{args.host}:{args.port}"

    try:
        with socket.create_connection((args.host, args.port), timeout=args.timeout) as s:
            s.sendall(icreq())
            resp = recv_exact(s, IC_LEN)
    except socket.timeout:
        print(f"{where}: no ICResp within {args.timeout:g} s (target silent)")
        return 1
    except OSError as e:
        if args.expect_closed:
            print(f"{where}: closed as expected ({e.strerror or e})")
            return 0
        print(f"{where}: connection failed: {e}")
        return 1

    if args.expect_closed:
        if not resp:
            print(f"{where}: closed as expected (end of stream)")
            return 0
        print(f"{where}: expected the connection closed, got {len(resp)} bytes: {resp[:8].hex()}")
        return 1
    if len(resp) != IC_LEN:
        print(f"{where}: expected a {IC_LEN}-byte ICResp, got {len(resp)} bytes then end of stream")
        return 1
    ptype, _flags, hlen, pdo, plen = struct.unpack_from("<BBBBI", resp, 0)
    pfv, cpda, dgst, maxh2cdata = struct.unpack_from("<HBBI", resp, 8)
    errors = []
    if ptype != PDU_ICRESP:
        errors.append(f"pdu_type {ptype} (expected {PDU_ICRESP})")
    if hlen != IC_LEN:
        errors.append(f"hlen {hlen} (expected {IC_LEN})")
    if plen != IC_LEN:
        errors.append(f"plen {plen} (expected {IC_LEN})")
    if pdo != 0:
        errors.append(f"pdo {pdo} (expected 0)")
    if pfv != 0:
        errors.append(f"pfv {pfv} (expected 0)")
    if maxh2cdata == 0:
        errors.append("maxh2cdata 0 (expected > 0)")
    if errors:
        print(f"{where}: bad ICResp: " + ", ".join(errors))
        return 1
    print(f"{where}: ICResp pfv {pfv} cpda {cpda} dgst {dgst} maxh2cdata {maxh2cdata}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
