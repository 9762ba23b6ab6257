#!/usr/bin/python3
"""Tests of tools/import_authors_l2o_scale on the authors' checkpoint in test/data/authors_weights/.

Run by ctest (CMakeLists.txt); exit code 77 (reported Skipped) when numpy is missing.
"""
import json
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
TOOL = os.path.join(ROOT, "tools", "import_authors_l2o_scale")
READER = os.path.join(ROOT, "tools", "read_tf_checkpoint")
PREFIX = os.path.join(ROOT, "test", "data", "authors_weights", "l2o_scale_cl_il", "model.ckpt-0")
COMMITTED = os.path.join(ROOT, "docs", "results", "authors_models", "checkpoints", "l2o_scale_cl_il.safetensors")


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__")
    data = raw[8 + n:]
    tensors = {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], "<f4").reshape(v["shape"])
               for k, v in header.items()}
    return meta, tensors


def run(*args):
    return subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True)


class ImportL2oScale(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_every_variable_copied_unchanged(self):
        out = os.path.join(self.tmp, "s.safetensors")
        r = run(PREFIX, out)
        self.assertEqual(r.returncode, 0, r.stderr)
        meta, tensors = read_safetensors(out)
        self.assertEqual(json.loads(meta["learner"])["type"], "l2o_scale")
        self.assertEqual(len(tensors), 31)
        npz = os.path.join(self.tmp, "all.npz")
        subprocess.run([sys.executable, READER, PREFIX, "--npz", npz], check=True, capture_output=True)
        ref = np.load(npz)
        for name, a in tensors.items():
            self.assertTrue(np.array_equal(a, ref["LOL/" + name]), name)
            self.assertEqual(a.shape, ref["LOL/" + name].shape, name)
        # The committed checkpoint is this import (its metadata names the input by a relative path).
        cmeta, ctensors = read_safetensors(COMMITTED)
        self.assertEqual(cmeta["learner"], meta["learner"])
        self.assertEqual(cmeta["source_sha256"], meta["source_sha256"])
        self.assertEqual(sorted(ctensors), sorted(tensors))
        for name, a in tensors.items():
            self.assertTrue(np.array_equal(ctensors[name], a) and ctensors[name].shape == a.shape, name)

    def test_bad_inputs(self):
        self.assertEqual(run(PREFIX, os.path.join(self.tmp, "s.bin")).returncode, 2)
        r = run(os.path.join(self.tmp, "missing", "model.ckpt-0"), os.path.join(self.tmp, "s.safetensors"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("missing", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "s.safetensors")))


if __name__ == "__main__":
    unittest.main()
