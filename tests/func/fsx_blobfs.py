#!/usr/bin/env python3
"""Helpers of test_spio_fuse.sh.

  fsx_blobfs.py mkfiles DIR COUNT SEED
      COUNT files of random sizes (0 B .. 3 MiB, odd sizes among them) in DIR.
  fsx_blobfs.py fsx MOUNT MODEL_DIR SEED OPS SECONDS
      fsx-style run on a mounted BlobFS: random writes at offsets, truncates
      (by fd and by name), reads compared with a shadow model, renames (over
      existing names too), unlinks, creates, fsyncs and reopens, on a handful
      of names; OPS operations or SECONDS, whichever comes first. Then every
      file is read back whole, the directory listing compared, and the model
      written to MODEL_DIR (one file per name) for the check after a remount.
  fsx_blobfs.py stress MOUNT SEED
      Processes' worth of concurrency: 6 threads each open, write its own
      4 KiB slot of one shared file (the daemon's shared writer), fsync and
      close it, 30 times, and rewrite (O_TRUNC), rename and delete files of
      their own, while 3 threads list, read every file and statfs. Then each
      slot holds its thread's bytes and no file but the shared one is left.
Exit 0 when everything matched; 1 with the operation, seed and offsets of the
first mismatch.
"""
import os
import random
import sys
import time

MAX_LEN = 4 * 1024 * 1024
MAX_IO = 96 * 1024
NAMES = ["fsx_a", "fsx_b", "fsx_c", "fsx_d", "fsx_e"]


def mkfiles(directory, count, seed):
    rng = random.Random(seed)
    os.makedirs(directory, exist_ok=True)
    sizes = [0, 1, 4095, 4097, 1024 * 1024, 3 * 1024 * 1024]
    while len(sizes) < count:
        sizes.append(rng.randrange(0, 3 * 1024 * 1024 + 1))
    for i, size in enumerate(sizes[:count]):
        with open(os.path.join(directory, "file%02d.bin" % i), "wb") as f:
            f.write(rng.randbytes(size))
    return 0


class Fsx:
    def __init__(self, mount, seed):
        self.mount = mount
        self.rng = random.Random(seed)
        self.seed = seed
        self.model = {}  # name -> bytearray
        self.fds = {}  # name -> fd (O_RDWR)
        self.n = 0

    def path(self, name):
        return os.path.join(self.mount, name)

    def fail(self, what):
        print("fsx: FAIL op %d (seed %d): %s" % (self.n, self.seed, what), file=sys.stderr)
        sys.exit(1)

    def fd(self, name):
        if name not in self.fds:
            self.fds[name] = os.open(self.path(name), os.O_RDWR)
        return self.fds[name]

    def close(self, name):
        fd = self.fds.pop(name, None)
        if fd is not None:
            os.close(fd)

    def compare(self, name, off, got, what):
        want = bytes(self.model[name][off:off + len(got)])
        if got != want:
            for i, (a, b) in enumerate(zip(got, want)):
                if a != b:
                    break
            else:
                i = min(len(got), len(want))
            self.fail("%s %s: %d bytes at %d differ from the model at byte %d "
                      "(model length %d, read %d)" %
                      (what, name, len(got), off, off + i, len(self.model[name]), len(got)))

    def op_create(self, name):
        fd = os.open(self.path(name), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        self.fds[name] = fd
        self.model[name] = bytearray()

    def op_write(self, name):
        m = self.model[name]
        off = self.rng.randrange(0, MAX_LEN - MAX_IO)
        if self.rng.random() < 0.5 and len(m) > 0:
            off = self.rng.randrange(0, len(m))  # mostly overwrites and appends
        data = self.rng.randbytes(self.rng.randrange(1, MAX_IO))
        n = os.pwrite(self.fd(name), data, off)
        if n != len(data):
            self.fail("write %s: %d of %d bytes at %d" % (name, n, len(data), off))
        if len(m) < off:
            m.extend(bytes(off - len(m)))
        m[off:off + len(data)] = data

    def op_read(self, name):
        m = self.model[name]
        off = self.rng.randrange(0, len(m) + 4096)
        length = self.rng.randrange(1, MAX_IO)
        got = os.pread(self.fd(name), length, off)
        want_len = max(0, min(length, len(m) - off))
        if len(got) != want_len:
            self.fail("read %s: %d bytes at %d, expected %d (model length %d)" %
                      (name, len(got), off, want_len, len(m)))
        self.compare(name, off, got, "read")

    def op_truncate(self, name):
        m = self.model[name]
        size = self.rng.randrange(0, MAX_LEN)
        if self.rng.random() < 0.5:
            size = self.rng.randrange(0, len(m) + 1)  # down as often as up
        if self.rng.random() < 0.5:
            os.ftruncate(self.fd(name), size)
        else:
            os.truncate(self.path(name), size)
        if size < len(m):
            del m[size:]
        else:
            m.extend(bytes(size - len(m)))

    def op_stat(self, name):
        size = os.stat(self.path(name)).st_size
        if size != len(self.model[name]):
            self.fail("stat %s: size %d, model %d" % (name, size, len(self.model[name])))

    def op_rename(self, name):
        to = self.rng.choice(NAMES)
        self.close(name)
        self.close(to)
        os.rename(self.path(name), self.path(to))
        if to != name:
            self.model[to] = self.model.pop(name)

    def op_unlink(self, name):
        self.close(name)
        os.unlink(self.path(name))
        del self.model[name]

    def check_whole(self, name):
        with open(self.path(name), "rb") as f:
            got = f.read()
        if len(got) != len(self.model[name]):
            self.fail("whole %s: %d bytes, model %d" % (name, len(got), len(self.model[name])))
        self.compare(name, 0, got, "whole")

    def run(self, ops, seconds):
        deadline = time.monotonic() + seconds
        for name in NAMES[:3]:
            self.op_create(name)
        while self.n < ops and time.monotonic() < deadline:
            self.n += 1
            missing = [x for x in NAMES if x not in self.model]
            if not self.model or (missing and self.rng.random() < 0.03):
                self.op_create(self.rng.choice(missing))
                continue
            name = self.rng.choice(sorted(self.model))
            r = self.rng.random()
            if r < 0.40:
                self.op_write(name)
            elif r < 0.65:
                self.op_read(name)
            elif r < 0.75:
                self.op_truncate(name)
            elif r < 0.80:
                self.op_stat(name)
            elif r < 0.85:
                self.op_rename(name)
            elif r < 0.87:
                self.op_unlink(name)
            elif r < 0.92:
                os.fsync(self.fd(name))
            elif r < 0.97:
                self.close(name)
            else:
                self.check_whole(name)
        for name in list(self.fds):
            self.close(name)
        listed = sorted(x for x in os.listdir(self.mount) if x.startswith("fsx_"))
        if listed != sorted(self.model):
            self.fail("listing %s, model %s" % (listed, sorted(self.model)))
        for name in sorted(self.model):
            self.check_whole(name)
        print("fsx: %d operations, seed %d, files %s" %
              (self.n, self.seed,
               ", ".join("%s=%d" % (k, len(v)) for k, v in sorted(self.model.items()))))


def stress(mount, seed):
    import threading
    errors = []
    shared = os.path.join(mount, "stress_shared")

    def writer(k):
        rng = random.Random(seed * 100 + k)
        try:
            for it in range(30):
                fd = os.open(shared, os.O_RDWR | os.O_CREAT)
                os.pwrite(fd, bytes([k + 1]) * 4096, k * 4096)
                if it % 5 == 0:
                    os.fsync(fd)
                os.close(fd)
                own = os.path.join(mount, "stress_own%d" % k)
                data = rng.randbytes(rng.randrange(1, 300000))
                fd = os.open(own, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
                os.write(fd, data)
                os.close(fd)
                with open(own, "rb") as f:
                    if f.read() != data:
                        errors.append("stress_own%d: read back differs (round %d)" % (k, it))
                        return
                if it % 7 == 0:
                    moved = os.path.join(mount, "stress_moved%d" % k)
                    os.rename(own, moved)
                    os.unlink(moved)
            os.unlink(os.path.join(mount, "stress_own%d" % k))
        except OSError as e:
            errors.append("writer %d: %s" % (k, e))

    def reader():
        try:
            for _ in range(40):
                for name in os.listdir(mount):
                    try:
                        with open(os.path.join(mount, name), "rb") as f:
                            f.read()
                    except FileNotFoundError:
                        pass  # renamed or deleted meanwhile
                os.statvfs(mount)
        except OSError as e:
            errors.append("reader: %s" % e)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(6)]
    threads += [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(shared, "rb") as f:
        data = f.read()
    for k in range(6):
        if data[k * 4096:(k + 1) * 4096] != bytes([k + 1]) * 4096:
            errors.append("shared slot %d: not thread %d's bytes" % (k, k))
    left = sorted(x for x in os.listdir(mount) if x.startswith("stress_"))
    if left != ["stress_shared"]:
        errors.append("left over: %s" % left)
    os.unlink(shared)
    for e in errors:
        print("stress: FAIL (seed %d): %s" % (seed, e), file=sys.stderr)
    if not errors:
        print("stress: 6 writers, 3 readers: ok")
    return 1 if errors else 0


def main(argv):
    if len(argv) >= 5 and argv[1] == "mkfiles":
        return mkfiles(argv[2], int(argv[3]), int(argv[4]))
    if len(argv) >= 7 and argv[1] == "fsx":
        mount, model_dir, seed = argv[2], argv[3], int(argv[4])
        print("fsx: seed %d" % seed, flush=True)
        fsx = Fsx(mount, seed)
        fsx.run(int(argv[5]), float(argv[6]))
        os.makedirs(model_dir, exist_ok=True)
        for name, data in fsx.model.items():
            with open(os.path.join(model_dir, name), "wb") as f:
                f.write(data)
        return 0
    if len(argv) >= 4 and argv[1] == "stress":
        return stress(argv[2], int(argv[3]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
