#!/usr/bin/env python3
"""Extract the raw data an NVMe/TCP host read at bring-up from a pcap.

Reads a classic little-endian pcap (Ethernet, IPv4, TCP), reassembles the
TCP streams of one connection (by default the first one to the NVMe/TCP
port), walks the NVMe/TCP PDUs of both directions and pairs every command
capsule with the C2HData payload and the response capsule of its command id.
From that it writes, into OUTDIR:

  ctrlr.bin           Identify Controller (CNS 01h), 4096 bytes
  ns<NSID>.bin        Identify Namespace (CNS 00h) of each namespace read
  nsdesc<NSID>.bin    Namespace Identification Descriptor list (CNS 03h)

and prints on stdout the spio_identify offline options that load them, one
per line, plus --cap / --vs from the Property Get answers for CAP and VS and
--num-io-queues from the Set Features Number of Queues answer:

  --ctrlr-data OUTDIR/ctrlr.bin
  --ns-data 1=OUTDIR/ns1.bin
  ...

Usage: identify_from_pcap.py PCAP OUTDIR [--port 4420] [--connection N]
Exit status 0, or 1 with a message on stderr (bad pcap, nothing found).
Python 3 standard library only.
"""

import argparse
import os
import struct
import sys

PDU_IC_REQ = 0x00
PDU_IC_RESP = 0x01
PDU_CAPSULE_CMD = 0x04
PDU_CAPSULE_RESP = 0x05
PDU_C2H_DATA = 0x07
FLAG_HDGST = 0x01
FLAG_DDGST = 0x02
C2H_LAST_PDU = 0x04
C2H_SUCCESS = 0x08

OPC_IDENTIFY = 0x06
OPC_SET_FEATURES = 0x09
OPC_FABRIC = 0x7F
FCTYPE_PROPERTY_GET = 0x04
FEAT_NUMBER_OF_QUEUES = 0x07
CNS_NS = 0x00
CNS_CTRLR = 0x01
CNS_NS_ID_DESC = 0x03
REG_CAP = 0x00
REG_VS = 0x08
# SPDK's and spio's default request: 1024 I/O queues (the tool prints the minimum).
DEFAULT_NUM_IO_QUEUES = 1024


class PcapError(Exception):
    pass


def read_packets(path):
    """Yield (timestamp, frame bytes) of each record."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        raise PcapError(f"{path}: {len(data)} bytes, shorter than a pcap header")
    magic = struct.unpack_from("<I", data, 0)[0]
    if magic not in (0xA1B2C3D4, 0xA1B23C4D):
        raise PcapError(f"{path}: magic {magic:#x}, expected a little-endian classic pcap")
    linktype = struct.unpack_from("<I", data, 20)[0]
    if linktype != 1:
        raise PcapError(f"{path}: link type {linktype}, expected 1 (Ethernet)")
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack_from("<IIII", data, off)
        off += 16
        if off + incl > len(data):
            raise PcapError(f"{path}: record at {off - 16} truncated")
        yield sec + frac * 1e-6, data[off:off + incl]
        off += incl


def tcp_segments(path):
    """Yield (src, sport, dst, dport, seq, flags, payload) of IPv4/TCP frames."""
    for _ts, frame in read_packets(path):
        if len(frame) < 14:
            continue
        ethertype = struct.unpack_from(">H", frame, 12)[0]
        ip = 14
        if ethertype == 0x8100:  # one VLAN tag
            ethertype = struct.unpack_from(">H", frame, 16)[0]
            ip = 18
        if ethertype != 0x0800 or len(frame) < ip + 20:
            continue
        ihl = (frame[ip] & 0x0F) * 4
        total = struct.unpack_from(">H", frame, ip + 2)[0]
        if frame[ip + 9] != 6:
            continue
        src, dst = frame[ip + 12:ip + 16], frame[ip + 16:ip + 20]
        tcp = ip + ihl
        sport, dport, seq = struct.unpack_from(">HHI", frame, tcp)
        doff = (frame[tcp + 12] >> 4) * 4
        flags = frame[tcp + 13]
        payload = frame[tcp + doff:ip + total]
        yield src, sport, dst, dport, seq, flags, payload


class Stream:
    """One direction of a TCP connection, reassembled by sequence number."""

    def __init__(self):
        self.isn = None
        self.chunks = {}

    def add(self, seq, syn, payload):
        if syn:
            self.isn = (seq + 1) & 0xFFFFFFFF
            return
        if not payload:
            return
        if self.isn is None:  # capture started mid-connection
            self.isn = seq
        rel = (seq - self.isn) & 0xFFFFFFFF
        # a retransmission carries the same bytes: keep the longest
        if len(payload) > len(self.chunks.get(rel, b"")):
            self.chunks[rel] = bytes(payload)

    def data(self):
        out = bytearray()
        for rel in sorted(self.chunks):
            chunk = self.chunks[rel]
            if rel > len(out):
                raise PcapError(f"stream has a hole at byte {len(out)} (next data at {rel})")
            out += chunk[len(out) - rel:]
        return bytes(out)


def connections(path, port):
    """Connections to `port` in order of appearance: [(host->ctrlr, ctrlr->host)]."""
    order = []
    streams = {}
    for src, sport, dst, dport, seq, flags, payload in tcp_segments(path):
        if dport == port:
            key, direction = (src, sport, dst, dport), 0
        elif sport == port:
            key, direction = (dst, dport, src, sport), 1
        else:
            continue
        if key not in streams:
            streams[key] = (Stream(), Stream())
            order.append(key)
        streams[key][direction].add(seq, bool(flags & 0x02), payload)
    return [(streams[k][0].data(), streams[k][1].data()) for k in order]


def pdus(stream):
    """Yield (type, flags, header bytes, data bytes) of each PDU of a stream."""
    off = 0
    while off + 8 <= len(stream):
        ptype, flags, hlen, pdo, plen = struct.unpack_from("<BBBBI", stream, off)
        if plen < hlen or off + plen > len(stream):
            raise PcapError(f"PDU at {off}: type {ptype:#x} plen {plen} runs past the stream end")
        pdu = stream[off:off + plen]
        data = b""
        if pdo:
            end = plen - (4 if flags & FLAG_DDGST and ptype not in (PDU_IC_REQ, PDU_IC_RESP) else 0)
            data = pdu[pdo:end]
        yield ptype, flags, pdu[:hlen], data
        off += plen


def extract(host_stream, ctrlr_stream):
    """Pair commands and answers by command id, in order per command id."""
    commands = {}  # cid -> list of [sqe, data bytearray, cqe]
    for ptype, _flags, hdr, _data in pdus(host_stream):
        if ptype == PDU_CAPSULE_CMD:
            sqe = hdr[8:72]
            cid = struct.unpack_from("<H", sqe, 2)[0]
            commands.setdefault(cid, []).append([sqe, bytearray(), None])
    done = {}  # cid -> commands of that cid answered so far
    for ptype, flags, hdr, data in pdus(ctrlr_stream):
        if ptype == PDU_C2H_DATA:
            cid, datao = struct.unpack_from("<H2xI", hdr, 8)
            entry = commands[cid][done.get(cid, 0)]
            buf = entry[1]
            if len(buf) < datao + len(data):
                buf.extend(bytes(datao + len(data) - len(buf)))
            buf[datao:datao + len(data)] = data
            if flags & C2H_SUCCESS and flags & C2H_LAST_PDU:
                entry[2] = bytes(16)  # success without a response capsule
                done[cid] = done.get(cid, 0) + 1
        elif ptype == PDU_CAPSULE_RESP:
            cqe = hdr[8:24]
            cid = struct.unpack_from("<H", cqe, 12)[0]
            commands[cid][done.get(cid, 0)][2] = cqe
            done[cid] = done.get(cid, 0) + 1
    for cid_cmds in commands.values():
        yield from cid_cmds


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pcap")
    ap.add_argument("outdir")
    ap.add_argument("--port", type=int, default=4420)
    ap.add_argument("--connection", type=int, default=1,
                    help="which connection to the port, 1 = the first")
    args = ap.parse_args()
    try:
        conns = connections(args.pcap, args.port)
        if len(conns) < args.connection:
            raise PcapError(f"{args.pcap}: {len(conns)} connections to port {args.port}, "
                            f"asked for number {args.connection}")
        host, ctrlr = conns[args.connection - 1]
        cmds = list(extract(host, ctrlr))
    except (OSError, PcapError, KeyError, IndexError, struct.error) as e:
        print(f"identify_from_pcap: {e!r}", file=sys.stderr)
        return 1

    os.makedirs(args.outdir, exist_ok=True)
    opts = []
    regs = {}
    num_queues = None
    for sqe, data, cqe in cmds:
        if cqe is None:
            continue
        status = struct.unpack_from("<H", cqe, 14)[0] >> 1
        if status != 0:
            continue
        opc = sqe[0]
        nsid, = struct.unpack_from("<I", sqe, 4)
        cdw10, = struct.unpack_from("<I", sqe, 40)
        if opc == OPC_IDENTIFY and len(data) == 4096:
            cns = cdw10 & 0xFF
            name = {CNS_CTRLR: "ctrlr.bin", CNS_NS: f"ns{nsid}.bin",
                    CNS_NS_ID_DESC: f"nsdesc{nsid}.bin"}.get(cns)
            if name is None:
                continue
            path = os.path.join(args.outdir, name)
            with open(path, "wb") as f:
                f.write(data)
            opts.append({CNS_CTRLR: f"--ctrlr-data {path}", CNS_NS: f"--ns-data {nsid}={path}",
                         CNS_NS_ID_DESC: f"--ns-desc {nsid}={path}"}[cns])
        elif opc == OPC_FABRIC and sqe[4] == FCTYPE_PROPERTY_GET:
            ofst, = struct.unpack_from("<I", sqe, 44)
            regs[ofst] = struct.unpack_from("<Q", cqe, 0)[0]
        elif opc == OPC_SET_FEATURES and cdw10 & 0xFF == FEAT_NUMBER_OF_QUEUES:
            cdw0, = struct.unpack_from("<I", cqe, 0)
            num_queues = min(DEFAULT_NUM_IO_QUEUES, (cdw0 & 0xFFFF) + 1, (cdw0 >> 16) + 1)
    if not any(o.startswith("--ctrlr-data") for o in opts):
        print(f"identify_from_pcap: no Identify Controller data in connection {args.connection}",
              file=sys.stderr)
        return 1
    if REG_CAP in regs:
        opts.append(f"--cap {regs[REG_CAP]:#x}")
    if REG_VS in regs:
        opts.append(f"--vs {regs[REG_VS] & 0xFFFFFFFF:#x}")
    if num_queues is not None:
        opts.append(f"--num-io-queues {num_queues}")
    print("\n".join(opts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
