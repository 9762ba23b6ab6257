#!/usr/bin/python3
"""Tests of tools/read_tf_checkpoint: the authors' L2O-Scale checkpoint in
test/data/authors_weights/l2o_scale_cl_il/, corrupted copies of it, and tiny bundles written here by
an independent SSTable/protobuf writer (bitwise crc32c, own varints, snappy literals and copies).

Run by ctest (CMakeLists.txt); exit code 77 (reported Skipped) when numpy is missing.
"""
import importlib.machinery
import importlib.util
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

try:
    import numpy as np
except ImportError:
    print("numpy is missing: skipped (install python3-numpy)")
    sys.exit(77)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, "tools", "read_tf_checkpoint")
CKPT_DIR = os.path.join(ROOT, "test", "data", "authors_weights", "l2o_scale_cl_il")
PREFIX = os.path.join(CKPT_DIR, "model.ckpt-0")

# The optimizer's 31 variables (each also has /RMSProp and /RMSProp_1 slots), docs/l2o_scale.md.
_GRU = lambda p, n_in, h: {f"{p}/BiasGRUCell/candidate/Affine/Bias": [h],
                           f"{p}/BiasGRUCell/candidate/Affine/Matrix": [n_in + h, h],
                           f"{p}/BiasGRUCell/gates/Affine/Bias": [2 * h],
                           f"{p}/BiasGRUCell/gates/Affine/Matrix": [n_in + h, 2 * h]}
OPT_VARS = {
    **_GRU("LOL/Layer2_RNN", 20, 20),
    "LOL/Level0_RNN/init_vector": [1, 10], "LOL/Level1_RNN/init_vector": [1, 20],
    "LOL/Level2_RNN/init_vector": [1, 20],
    "LOL/PerTensor/GradsToDelta/Matrix": [4, 1],
    **_GRU("LOL/PerTensor/Layer0_RNN", 12, 10),
    "LOL/PerTensor/Layer0_RNN/Global/Affine/Bias": [30], "LOL/PerTensor/Layer0_RNN/Global/Affine/Matrix": [20, 30],
    "LOL/PerTensor/Layer0_RNN/Param/Affine/Bias": [30], "LOL/PerTensor/Layer0_RNN/Param/Affine/Matrix": [20, 30],
    "LOL/PerTensor/Layer1_RNN/Affine/Bias": [60], "LOL/PerTensor/Layer1_RNN/Affine/Matrix": [20, 60],
    **_GRU("LOL/PerTensor/Layer1_RNN", 22, 20),
    "LOL/PerTensor/learning_rate_momentum_logit": [], "LOL/PerTensor/param_stepsize_offset": [],
    "LOL/inp_decay_bias": [1], "LOL/inp_decay_weights": [10, 1],
    "LOL/learning_rate_bias": [1], "LOL/learning_rate_weights": [10, 1],
    "LOL/scl_decay_bias": [1], "LOL/scl_decay_weights": [10, 1],
    "LOL/update_weights": [10, 1],
}
EXPECTED = {n + s: ("DT_FLOAT", shape) for n, shape in OPT_VARS.items() for s in ("", "/RMSProp", "/RMSProp_1")}
EXPECTED["global_step"] = ("DT_INT32", [])


def run_tool(*args):
    return subprocess.run([TOOL, *map(str, args)], capture_output=True, text=True)


def load_tool_module():
    loader = importlib.machinery.SourceFileLoader("read_tf_checkpoint", TOOL)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def parse_list(stdout):
    out = {}
    for line in stdout.splitlines():
        if line.startswith("#"):
            continue
        name, dtype, shape = line.split("\t")
        out[name] = (dtype, eval(shape))  # a Python list literal of ints
    return out


# --- an independent writer: bitwise crc32c, varints, protobuf, SSTable, snappy ------------------

def crc32c_bitwise(data):
    c = 0xFFFFFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 & -(c & 1))
    return c ^ 0xFFFFFFFF


def masked(c):
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def uvarint(v):
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def pb_varint(field, v):
    return uvarint(field << 3) + uvarint(v & ((1 << 64) - 1))


def pb_bytes(field, b):
    return uvarint(field << 3 | 2) + uvarint(len(b)) + b


def pb_fixed32(field, v):
    return uvarint(field << 3 | 5) + struct.pack("<I", v)


def header_proto(num_shards=1, endianness=0):
    return (pb_varint(1, num_shards) + (pb_varint(2, endianness) if endianness else b"") +
            pb_bytes(3, pb_varint(1, 1)))


def entry_proto(dtype, shape, offset, size, crc, shard=0, extra=b""):
    shape_pb = b"".join(pb_bytes(2, pb_varint(1, d)) for d in shape)
    return (pb_varint(1, dtype) + pb_bytes(2, shape_pb) + (pb_varint(3, shard) if shard else b"") +
            (pb_varint(4, offset) if offset else b"") + pb_varint(5, size) + pb_fixed32(6, crc) + extra)


def snappy_compress(data):
    """Greedy: 2-byte-offset copies of >= 4 repeated bytes, literals otherwise."""
    out, lit, i = bytearray(uvarint(len(data))), bytearray(), 0

    def flush():
        while lit:
            chunk = lit[:60]
            out.append((len(chunk) - 1) << 2)
            out.extend(chunk)
            del lit[:60]
    while i < len(data):
        best = (0, 0)
        for j in range(max(0, i - 2000), i):
            n = 0
            while i + n < len(data) and n < 64 and data[j + n] == data[i + n]:
                n += 1
            if n > best[0]:
                best = (n, i - j)
        if best[0] >= 4:
            flush()
            out.append(((best[0] - 1) << 2) | 2)
            out.extend(struct.pack("<H", best[1]))
            i += best[0]
        else:
            lit.append(data[i])
            i += 1
    flush()
    return bytes(out)


def build_block(entries, restart_interval):
    out, restarts, prev = bytearray(), [], b""
    for i, (k, v) in enumerate(entries):
        shared = 0
        if i % restart_interval == 0:
            restarts.append(len(out))
        else:
            while shared < min(len(k), len(prev)) and k[shared] == prev[shared]:
                shared += 1
        out += uvarint(shared) + uvarint(len(k) - shared) + uvarint(len(v)) + k[shared:] + v
        prev = k
    if not restarts:
        restarts = [0]
    return bytes(out) + b"".join(struct.pack("<I", r) for r in restarts) + struct.pack("<I", len(restarts))


def build_table(entries, per_block=2, restart_interval=2, compression=0):
    """An SSTable of sorted (key, value): per_block entries per data block."""
    f = bytearray()

    def put(block):
        body = snappy_compress(block) if compression == 1 else block
        handle = uvarint(len(f)) + uvarint(len(body))
        f.extend(body + bytes([compression]) + struct.pack("<I", masked(crc32c_bitwise(body + bytes([compression])))))
        return handle
    index = []
    for i in range(0, len(entries), per_block):
        chunk = entries[i:i + per_block]
        index.append((chunk[-1][0], put(build_block(chunk, restart_interval))))
    meta = put(build_block([], 1))
    idx = put(build_block(index, 1))
    footer = meta + idx
    return bytes(f) + footer + b"\0" * (40 - len(footer)) + struct.pack("<Q", 0xdb4775248b80fb57)


def write_bundle(prefix, tensors, num_shards=1, compression=0, header=None, entry_extra=None):
    """tensors: [(name, dtype code, numpy array)], written to shard 0 in order."""
    data, entries = bytearray(), []
    for name, dtype, a in sorted(tensors, key=lambda t: t[0]):
        raw = a.tobytes()
        extra = (entry_extra or {}).get(name, b"")
        entries.append((name.encode(), entry_proto(dtype, a.shape, len(data), len(raw), masked(crc32c_bitwise(raw)),
                                                   extra=extra)))
        data += raw
    entries.insert(0, (b"", header if header is not None else header_proto(num_shards)))
    with open(prefix + ".index", "wb") as f:
        f.write(build_table(entries, compression=compression))
    with open(f"{prefix}.data-00000-of-{num_shards:05d}", "wb") as f:
        f.write(data)
    return entries


TINY = [("a/bias", 1, np.arange(3, dtype="<f4") - 1.5),
        ("a/matrix", 1, (np.arange(12, dtype="<f4") * 0.25).reshape(3, 4)),
        ("a/matrix/RMSProp", 1, np.full((3, 4), 0.5, dtype="<f4")),
        ("a/scalar", 1, np.array(3.25, dtype="<f4")),
        ("b", 2, np.array([1.0, 2.0], dtype="<f8")),
        ("global_step", 9, np.array(7, dtype="<i8"))]


class RealCheckpoint(unittest.TestCase):
    def test_list_names_dtypes_shapes_and_crc(self):
        r = run_tool(PREFIX, "--list")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(parse_list(r.stdout), EXPECTED)
        self.assertIn("# 94 tensors, 1 shard(s), crc32c ok", r.stdout)

    def test_npz_tiles_the_data_file(self):
        # Independent of the index decoding: the tensors, in key order, are the data file exactly.
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "all.npz")
            r = run_tool(PREFIX, "--npz", out)
            self.assertEqual(r.returncode, 0, r.stderr)
            z = np.load(out)
            self.assertEqual(sorted(z.files), sorted(n for n, (t, _) in EXPECTED.items() if t == "DT_FLOAT"))
            names = sorted(EXPECTED)
            with open(PREFIX + ".data-00000-of-00001", "rb") as f:
                data = f.read()
            blob = b"".join(z[n].astype("<f4").tobytes() if n != "global_step" else struct.pack("<i", 6)
                            for n in names)
            self.assertEqual(blob, data)
            for n, (_, shape) in EXPECTED.items():
                if n != "global_step":
                    self.assertEqual(list(z[n].shape), shape, n)
            np.testing.assert_array_equal(z["LOL/PerTensor/Layer0_RNN/BiasGRUCell/gates/Affine/Bias"],
                                          np.full(20, 2.2, dtype="<f4"))

    def test_dump(self):
        r = run_tool(PREFIX, "--dump", "LOL/PerTensor/param_stepsize_offset")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("min -1 max -1", r.stdout)
        r = run_tool(PREFIX, "--dump", "global_step")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("DT_INT32\t[]", r.stdout)
        self.assertIn("min 6 max 6", r.stdout)
        r = run_tool(PREFIX, "--dump", "LOL/nope")
        self.assertEqual(r.returncode, 2)
        self.assertIn("no tensor 'LOL/nope'", r.stderr)

    def test_crc32c_known_values(self):
        m = load_tool_module()
        self.assertEqual(m.crc32c(b"123456789"), 0xE3069283)  # the standard check value
        self.assertEqual(m.crc32c(b""), 0)
        for s in (b"a", b"\0" * 32, bytes(range(256))):
            self.assertEqual(m.crc32c(s), crc32c_bitwise(s))
            self.assertEqual(m.mask_crc(m.crc32c(s)), masked(crc32c_bitwise(s)))


class Corrupted(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.prefix = os.path.join(self.tmp.name, "model.ckpt-0")
        for f in os.listdir(CKPT_DIR):
            shutil.copy(os.path.join(CKPT_DIR, f), self.tmp.name)
        self.index = self.prefix + ".index"
        self.data = self.prefix + ".data-00000-of-00001"

    def tearDown(self):
        self.tmp.cleanup()

    def patch(self, path, offset, value=None, truncate=None):
        with open(path, "rb") as f:
            raw = bytearray(f.read())
        if truncate is not None:
            raw = raw[:truncate]
        else:
            raw[offset] ^= 0xFF if value is None else value
        with open(path, "wb") as f:
            f.write(raw)

    def assert_fails(self, path, *needles, args=("--list",)):
        r = run_tool(self.prefix, *args)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertNotIn("Traceback", r.stderr)
        self.assertIn(path, r.stderr)
        for n in needles:
            self.assertIn(n, r.stderr)

    def test_flipped_data_byte(self):
        # The data file tiles in key order (test above): byte 0 is the first tensor's, the last
        # byte global_step's, bytes 100,148..100,187 the last float tensor's.
        self.patch(self.data, 0)
        self.assert_fails(self.data, "LOL/Layer2_RNN/BiasGRUCell/candidate/Affine/Bias: crc32c mismatch")
        self.patch(self.data, 0)
        self.patch(self.data, 100191)
        self.assert_fails(self.data, "global_step: crc32c mismatch")
        self.patch(self.data, 100191)
        self.patch(self.data, 100150, 0x01)
        self.assert_fails(self.data, "LOL/update_weights/RMSProp_1: crc32c mismatch", args=("--npz", self.prefix + ".npz"))

    def test_truncated_index(self):
        size = os.path.getsize(self.index)
        for n in (0, 10, 47, 48, 100, size // 2, size - 49, size - 1):
            with self.subTest(n=n):
                shutil.copy(os.path.join(CKPT_DIR, "model.ckpt-0.index"), self.index)
                self.patch(self.index, 0, truncate=n)
                self.assert_fails(self.index)

    def test_bad_magic(self):
        self.patch(self.index, os.path.getsize(self.index) - 1)
        self.assert_fails(self.index, "bad magic")

    def test_flipped_index_byte(self):
        self.patch(self.index, 100)
        self.assert_fails(self.index, "block crc32c mismatch")

    def test_data_file_too_short(self):
        self.patch(self.data, 0, truncate=50000)
        self.assert_fails(self.data, "beyond the data file")

    def test_missing_shard(self):
        os.unlink(self.data)
        self.assert_fails(self.data, "missing shard 0")


class HandBuilt(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.prefix = os.path.join(self.tmp.name, "tiny")

    def tearDown(self):
        self.tmp.cleanup()

    def check_tiny(self):
        r = run_tool(self.prefix, "--list")
        self.assertEqual(r.returncode, 0, r.stderr)
        names = {"1": "DT_FLOAT", "2": "DT_DOUBLE", "9": "DT_INT64"}
        self.assertEqual(parse_list(r.stdout), {n: (names[str(t)], list(a.shape)) for n, t, a in TINY})
        out = os.path.join(self.tmp.name, "tiny.npz")
        r = run_tool(self.prefix, "--npz", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        z = np.load(out)
        self.assertEqual(sorted(z.files), sorted(n for n, t, _ in TINY if t == 1))
        for n, t, a in TINY:
            if t == 1:
                np.testing.assert_array_equal(z[n], a)
        r = run_tool(self.prefix, "--dump", "global_step")
        self.assertIn("min 7 max 7", r.stdout)

    def test_prefix_compressed_keys_restarts_several_blocks(self):
        write_bundle(self.prefix, TINY)
        self.check_tiny()

    def test_snappy_blocks(self):
        write_bundle(self.prefix, TINY, compression=1)
        m = load_tool_module()
        text = b"abcdabcdabcdabcdXYZ" * 5
        self.assertEqual(m.snappy_decompress(snappy_compress(text), "x"), text)
        self.check_tiny()

    def assert_fails(self, path, needle):
        r = run_tool(self.prefix, "--list")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertNotIn("Traceback", r.stderr)
        self.assertIn(path, r.stderr)
        self.assertIn(needle, r.stderr)

    def test_unsupported_compression(self):
        write_bundle(self.prefix, TINY, compression=2)
        self.assert_fails(self.prefix + ".index", "unsupported block compression type 2")

    def test_offset_beyond_data_file(self):
        entries = write_bundle(self.prefix, TINY)
        a = TINY[0][2]
        entries[1] = (b"a/bias", entry_proto(1, a.shape, 10 ** 6, a.nbytes, masked(crc32c_bitwise(a.tobytes()))))
        with open(self.prefix + ".index", "wb") as f:
            f.write(build_table(entries))
        self.assert_fails(self.prefix + ".data-00000-of-00001", "a/bias: offset 1000000 + size 12 beyond the data file")

    def test_size_shape_mismatch(self):
        entries = write_bundle(self.prefix, TINY)
        entries[1] = (b"a/bias", entry_proto(1, (4,), 0, 12, 0))
        with open(self.prefix + ".index", "wb") as f:
            f.write(build_table(entries))
        self.assert_fails(self.prefix + ".index", "a/bias: size 12, shape [4] of DT_FLOAT needs 16")

    def test_unknown_dtype(self):
        entries = write_bundle(self.prefix, TINY)
        entries[1] = (b"a/bias", entry_proto(77, (3,), 0, 12, 0))
        with open(self.prefix + ".index", "wb") as f:
            f.write(build_table(entries))
        self.assert_fails(self.prefix + ".index", "a/bias: unknown dtype 77")

    def test_bad_varint(self):
        write_bundle(self.prefix, TINY)
        bad = [(b"", header_proto()), (b"x", b"\xff" * 11)]  # an entry whose value is a bad varint
        with open(self.prefix + ".index", "wb") as f:
            f.write(build_table(bad))
        self.assert_fails(self.prefix + ".index", "bad varint")

    def test_sliced_tensor_and_big_endian(self):
        write_bundle(self.prefix, TINY, entry_extra={"a/bias": pb_bytes(7, b"")})
        self.assert_fails(self.prefix + ".index", "a/bias: a sliced (partitioned) tensor")
        write_bundle(self.prefix, TINY, header=header_proto(endianness=1))
        self.assert_fails(self.prefix + ".index", "big-endian")

    def test_two_shards_one_missing(self):
        write_bundle(self.prefix, TINY, num_shards=2)
        r = run_tool(self.prefix, "--list")
        self.assertEqual(r.returncode, 0, r.stderr)  # every tensor is in shard 0
        entries = write_bundle(self.prefix, TINY, num_shards=2)
        entries[1] = (b"a/bias", entry_proto(1, (3,), 0, 12, 0, shard=1))
        with open(self.prefix + ".index", "wb") as f:
            f.write(build_table(entries))
        self.assert_fails(self.prefix + ".data-00001-of-00002", "missing shard 1")

    def test_keys_out_of_order(self):
        entries = write_bundle(self.prefix, TINY)
        entries[1], entries[2] = entries[2], entries[1]
        with open(self.prefix + ".index", "wb") as f:
            f.write(build_table(entries, restart_interval=1))
        self.assert_fails(self.prefix + ".index", "keys out of order")


if __name__ == "__main__":
    unittest.main()
