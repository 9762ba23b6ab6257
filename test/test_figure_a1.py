#!/usr/bin/python3
"""Tests of tools/figure_a1: per-run and per-setting statistics from l2o_eval summaries, diverged
seeds counted, and errors naming the bad input.

Run by ctest (CMakeLists.txt); exit code 77 (reported Skipped) without matplotlib.
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

try:
    import matplotlib  # noqa: F401
except ImportError:
    print("matplotlib is missing: skipped (install python3-matplotlib)")
    sys.exit(77)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, "tools", "figure_a1")


def write_summary(d, finals, **extra):
    os.makedirs(d, exist_ok=True)
    r = {"optimizer": "l2o:x/best", "problem": "mlp_orig", "steps": 10000, "seeds": len(finals),
         "final_losses": finals}
    r.update(extra)
    with open(os.path.join(d, "summary.json"), "w") as f:
        json.dump({"results": [r]}, f)


class FigureA1(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def run_tool(self, *args):
        return subprocess.run([TOOL, *args], capture_output=True, text=True)

    def test_statistics_per_run_and_setting(self):
        ev = lambda name: os.path.join(self.d, name)  # noqa: E731
        write_summary(ev("nt100_nv100_seed0"), [1e-2, 1e-4])           # run mean -3
        write_summary(ev("nt100_nv100_seed1"), [1e-1, 1e-1, None])     # -1, one seed diverged
        write_summary(ev("nt200_nv200_seed0"), [None, None])            # every seed diverged
        write_summary(ev("nt200_nv200_seed1"), [1e-5])                  # -5
        out = os.path.join(self.d, "a1.png")
        md = os.path.join(self.d, "a1.md")
        r = self.run_tool(ev("nt200_nv200_seed1"), ev("nt100_nv100_seed1"), ev("nt100_nv100_seed0"),
                          ev("nt200_nv200_seed0"), "-o", out, "--md", md)
        self.assertEqual(r.returncode, 0, r.stderr)
        table = open(md).read()
        # Runs in seed order; mean -2 and population std 1 over the two runs of 100/100.
        self.assertIn("| 100 | 100 | 2 (0, 1) | -3.00, -1.00 | -2.00 \u00b1 1.00 | 1 of 5 |", table)
        self.assertIn("| 200 | 200 | 2 (0, 1) | all diverged, -5.00 | -5.00 \u00b1 0.00 | 2 of 3 |", table)
        self.assertLess(table.index("| 100 | 100"), table.index("| 200 | 200"))
        self.assertGreater(os.path.getsize(out), 5000)

    def test_bad_input_names_the_file(self):
        bad_name = os.path.join(self.d, "run0")
        write_summary(bad_name, [1.0])
        r = self.run_tool(bad_name, "-o", os.path.join(self.d, "x.png"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("run0: expected a directory named nt<N_train>_nv<N_valid>_seed<run>", r.stderr)
        old = os.path.join(self.d, "nt100_nv100_seed0")
        os.makedirs(old)
        with open(os.path.join(old, "summary.json"), "w") as f:
            json.dump({"results": [{"optimizer": "x", "problem": "mlp_orig", "steps": 10, "seeds": 1}]}, f)
        r = self.run_tool(old, "-o", os.path.join(self.d, "x.png"))
        self.assertEqual(r.returncode, 2)
        self.assertIn(os.path.join(old, "summary.json") + ": no final_losses", r.stderr)
        write_summary(old, [1.0, "oops"])
        r = self.run_tool(old, "-o", os.path.join(self.d, "x.png"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("final_losses holds 'oops', not a number", r.stderr)
        r = self.run_tool(os.path.join(self.d, "nt1_nv1_seed9"), "-o", os.path.join(self.d, "x.png"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("nt1_nv1_seed9/summary.json: cannot read", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
