#!/usr/bin/python3
"""Tests of tools/import_authors on the authors' files in test/data/authors_weights/.

Run by ctest (CMakeLists.txt); exit code 77 (reported Skipped) when numpy is missing.
"""
import hashlib
import json
import os
import pickle
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
TOOL = os.path.join(ROOT, "tools", "import_authors")
DATA = os.path.join(ROOT, "test", "data", "authors_weights")
# (folder, file, learner type) of every authors' model the tool imports.
CASES = [(n, "cw.l2l-0", "l2o_dm") for n in ("dm", "dm_aug", "dm_cl", "dm_il", "dm_cl_il")] + \
        [(n, "rp.l2l-0", "rnnprop") for n in ("rnnprop", "rnnprop_cl_il")]
# Our tensor -> the pickle's (module, name); values are not permuted (tools/import_authors).
_LSTM_MAPPING = {"lstm_0/w": ("lstm_1", "w_gates"), "lstm_0/b": ("lstm_1", "b_gates"),
                 "lstm_1/w": ("lstm_2", "w_gates"), "lstm_1/b": ("lstm_2", "b_gates"),
                 "linear/w": ("linear", "w"), "linear/b": ("linear", "b")}
MAPPING = {"l2o_dm": _LSTM_MAPPING,
           "rnnprop": {"input_projection/w": ("input_projection", "w"),
                       "input_projection/b": ("input_projection", "b"), **_LSTM_MAPPING}}
# Our parameter order and shapes (learners/l2o_dm.cpp, learners/rnnprop.cpp).
SHAPES = {"l2o_dm": {"lstm_0/w": [22, 80], "lstm_0/b": [80], "lstm_1/w": [40, 80], "lstm_1/b": [80],
                     "linear/w": [20, 1], "linear/b": [1]},
          "rnnprop": {"input_projection/w": [2, 20], "input_projection/b": [20], "lstm_0/w": [40, 80],
                      "lstm_0/b": [80], "lstm_1/w": [40, 80], "lstm_1/b": [80], "linear/w": [20, 1],
                      "linear/b": [1]}}
DEFAULT_CONFIG = {"l2o_dm": ('{"forget_bias":1.0,"hidden":[20,20],"log_k":5,"output_bias_init":"zero",'
                             '"output_scale":0.01,"preprocess":"log_and_sign","type":"l2o_dm"}'),
                  "rnnprop": ('{"beta1":0.95,"beta2":0.95,"eps":1e-08,"forget_bias":1.0,"hidden":[20,20],'
                              '"output_scale":0.01,"projection":20,"type":"rnnprop"}')}


def run_tool(*args):
    return subprocess.run([TOOL, *args], capture_output=True, text=True)


def read_safetensors(path):
    """A minimal independent reader: (metadata, {name: (shape, float32 array)}, names in file order)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    meta = header.pop("__metadata__")
    tensors, end = {}, 0
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        assert e["dtype"] == "F32"
        b, f = e["data_offsets"]
        assert b == end, "tensors must tile the data"
        end = f
        tensors[name] = np.frombuffer(data[b:f], dtype="<f4").reshape(e["shape"])
    assert end == len(data)
    return meta, tensors, [k for k, _ in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])]


class FakeDill:
    """Loads the originals with plain pickle, for comparison: dill's three helpers, unrestricted."""

    @staticmethod
    def load(path):
        import importlib
        import types
        saved = {k: sys.modules.get(k) for k in ("dill", "dill._dill")}
        dd = types.ModuleType("dill._dill")
        dd._load_type = lambda name: {"dict": dict}[name]
        dd._import_module = importlib.import_module
        dd._get_attr = getattr
        sys.modules["dill"], sys.modules["dill._dill"] = types.ModuleType("dill"), dd
        try:
            with open(path, "rb") as f:
                return pickle.load(f)
        finally:
            for k, v in saved.items():
                if v is None:
                    sys.modules.pop(k, None)
                else:
                    sys.modules[k] = v


class ImportAuthors(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def test_all_seven_round_trip(self):
        for name, file, kind in CASES:
            with self.subTest(name=name):
                src = os.path.join(DATA, name, file)
                out = os.path.join(self.dir, name + ".safetensors")
                r = run_tool(src, out, "--label", "authors_" + name)
                self.assertEqual(r.returncode, 0, r.stderr)
                meta, tensors, order = read_safetensors(out)
                self.assertEqual(order, list(SHAPES[kind]))  # our parameter order
                self.assertEqual(meta["format"], "l2o-engine learner")
                self.assertEqual(meta["learner"], DEFAULT_CONFIG[kind])
                self.assertEqual(meta["label"], "authors_" + name)
                self.assertIn("VITA-Group/L2O-Training-Techniques commit 0a3da557, MIT license", meta["source"])
                with open(src, "rb") as f:
                    self.assertEqual(meta["source_sha256"], hashlib.sha256(f.read()).hexdigest())
                orig = FakeDill.load(src)
                for ours, (module, var) in MAPPING[kind].items():
                    self.assertEqual(list(tensors[ours].shape), SHAPES[kind][ours])
                    ref = np.asarray(orig[module][var])
                    self.assertEqual(ref.dtype, np.float32)
                    self.assertTrue(np.array_equal(tensors[ours].view(np.uint32), ref.view(np.uint32)),
                                    f"{name}: {ours} differs from {module}.{var}")

    def test_committed_checkpoints_are_current(self):
        # docs/results/authors_models/checkpoints/ holds exactly what the tool writes today.
        for name, file, _ in CASES:
            with self.subTest(name=name):
                out = os.path.join(self.dir, name + ".safetensors")
                cwd = os.getcwd()
                os.chdir(ROOT)  # the metadata records the source path as given
                try:
                    r = run_tool(os.path.join("test", "data", "authors_weights", name, file), out)
                finally:
                    os.chdir(cwd)
                self.assertEqual(r.returncode, 0, r.stderr)
                with open(out, "rb") as a, open(os.path.join(
                        ROOT, "docs", "results", "authors_models", "checkpoints", name + ".safetensors"), "rb") as b:
                    self.assertEqual(a.read(), b.read())

    def refused(self, payload, *needles):
        bad = os.path.join(self.dir, "bad.l2l")
        with open(bad, "wb") as f:
            f.write(payload)
        out = os.path.join(self.dir, "out.safetensors")
        r = run_tool(bad, out)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(bad, r.stderr)
        for n in needles:
            self.assertIn(n, r.stderr)
        self.assertFalse(os.path.exists(out))
        return r

    def test_refuses_os_system(self):
        marker = os.path.join(self.dir, "pwned")
        self.refused(b"cos\nsystem\n(S'touch " + marker.encode() + b"'\ntR.", "os.system")
        self.assertFalse(os.path.exists(marker))

    def test_refuses_other_modules_through_dill_helpers(self):
        # dill._dill._import_module('os') then _get_attr(os, 'system'): refused at the import.
        payload = (b"\x80\x03cdill._dill\n_get_attr\ncdill._dill\n_import_module\nX\x02\x00\x00\x00os\x85R"
                   b"X\x06\x00\x00\x00system\x86R.")
        self.refused(payload, "_import_module('os')")
        self.refused(b"\x80\x03cdill._dill\n_load_type\nX\x08\x00\x00\x00function\x85R.", "_load_type('function')")
        self.refused(pickle.dumps({"lstm_1": {"w_gates": np.zeros((22, 80), dtype=object)}}), "numpy.dtype('O")

    def test_truncated_file(self):
        with open(os.path.join(DATA, "dm", "cw.l2l-0"), "rb") as f:
            raw = f.read()
        self.refused(raw[: len(raw) // 2], "not a readable pickle")

    def good_arrays(self):
        return {"lstm_1": {"w_gates": np.ones((22, 80), np.float32), "b_gates": np.ones(80, np.float32)},
                "lstm_2": {"w_gates": np.ones((40, 80), np.float32), "b_gates": np.ones(80, np.float32)},
                "linear": {"w": np.ones((20, 1), np.float32), "b": np.ones(1, np.float32)}}

    def test_structure_errors(self):
        d = self.good_arrays()  # a plain (non-dill) pickle of the right structure is accepted
        bad = os.path.join(self.dir, "plain.l2l")
        with open(bad, "wb") as f:
            pickle.dump(d, f)
        self.assertEqual(run_tool(bad, os.path.join(self.dir, "plain.safetensors")).returncode, 0)
        d["lstm_2"]["w_gates"] = np.ones((41, 80), np.float32)
        self.refused(pickle.dumps(d), "lstm_2.w_gates", "(41, 80)")
        d = self.good_arrays()
        d["linear"]["b"] = np.array([np.nan], np.float32)
        self.refused(pickle.dumps(d), "linear.b", "NaN")
        d = self.good_arrays()
        d["linear"]["extra"] = np.ones(1, np.float32)
        self.refused(pickle.dumps(d), "linear: expected entries")
        d = self.good_arrays()
        del d["lstm_2"]
        self.refused(pickle.dumps(d), "expected modules")
        d = self.good_arrays()
        d["linear"]["w"] = np.ones((20, 1), np.int32)
        self.refused(pickle.dumps(d), "numpy.dtype('i4')")
        d = self.good_arrays()  # an RNNprop file (input_projection) needs RNNprop's lstm_1 shape
        d["input_projection"] = {"w": np.ones((2, 20), np.float32), "b": np.ones(20, np.float32)}
        self.refused(pickle.dumps(d), "lstm_1.w_gates", "(22, 80)", "(40, 80)")

    def test_missing_input(self):
        missing = os.path.join(self.dir, "nope", "cw.l2l-0")
        r = run_tool(missing, os.path.join(self.dir, "o.safetensors"))
        self.assertEqual(r.returncode, 2)
        self.assertIn(missing, r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
