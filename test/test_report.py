#!/usr/bin/python3
"""Tests of tools/report: Table 2's authors column, the training-cost table from metrics.jsonl,
the summary paragraph first, and errors naming the bad input.

Run by ctest (CMakeLists.txt); exit code 77 (reported Skipped) without numpy or matplotlib.
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

try:
    import matplotlib  # noqa: F401
    import numpy  # noqa: F401
except ImportError:
    print("numpy or matplotlib is missing: skipped (install python3-numpy python3-matplotlib)")
    sys.exit(77)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, "tools", "report")


def write_eval(d, curves):
    """An l2o_eval-like output: curves {(optimizer, problem): [[loss per step] per seed]}."""
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "curves.csv"), "w") as f:
        f.write("optimizer,problem,seed,step,loss\n")
        for (opt, prob), seeds in curves.items():
            for s, losses in enumerate(seeds):
                for t, v in enumerate(losses):
                    f.write(f"{opt},{prob},{s},{t},{v}\n")
    summary = {"results": [{"optimizer": o, "problem": p, "steps": len(c[0]) - 1, "seeds": len(c)}
                           for (o, p), c in curves.items()]}
    with open(os.path.join(d, "summary.json"), "w") as f:
        json.dump(summary, f)


class Report(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def run_report(self, *args):
        return subprocess.run([TOOL, *args], capture_output=True, text=True)

    def test_tables_cost_and_summary(self):
        ev = os.path.join(self.d, "eval")
        write_eval(ev, {("l2o:ours", "mlp_orig"): [[1.0, 0.1, 0.01], [1.0, 0.1, 0.001]],
                        ("l2o:theirs", "mlp_orig"): [[1.0, 0.5, 0.1], [1.0, 0.5, 0.1]]})
        run = os.path.join(self.d, "run")
        os.makedirs(run)
        with open(os.path.join(run, "metrics.jsonl"), "w") as f:
            for e in range(3):
                f.write(json.dumps({"kind": "epoch", "epoch": e, "mode": "meta", "n_train": 200, "segments": 10,
                                    "skipped": 1 if e == 2 else 0, "seconds": 1800.0, "stage": 1}) + "\n")
            f.write(json.dumps({"kind": "validation", "epoch": 2, "stage": 1, "score": 4.25, "improved": True}) + "\n")
            f.write(json.dumps({"kind": "stop", "reason": "no improvement in stage 1"}) + "\n")
        summary = os.path.join(self.d, "claims.md")
        with open(summary, "w") as f:
            f.write("Claim (a) does not hold here.\n")
        out = os.path.join(self.d, "out")
        r = self.run_report("--eval", ev, "--out", out, "--label-map", "l2o:ours=L2O-DM",
                            "--label-map", "l2o:theirs=L2O-DM (authors)", "--run", f"L2O-DM={run}",
                            "--summary", summary)
        self.assertEqual(r.returncode, 0, r.stderr)
        md = open(os.path.join(out, "report.md")).read()
        # The claims paragraph comes right under the title.
        self.assertTrue(md.startswith("# L2O reproduction report\n\nClaim (a) does not hold here."), md[:200])
        # Table 2: paper, ours (log10 of 0.01 and 0.001: -2.5 +/- 0.5), authors (-1.0 +/- 0.0).
        self.assertIn("| MLP-orig | L2O-DM | \u22480 | -2.50 \u00b1 0.50 @ 2 | -1.00 \u00b1 0.00 @ 2 |", md)
        # Training cost: 3 epochs, 29 meta-steps, 600 optimizee steps, 1.5 h, best 4.25 at epoch 2 in stage 1.
        self.assertIn(f"| L2O-DM | `{run}` | 3 | 29 | 600 | 1.50 h | 4.25 (2, stage 1) | 1 | "
                      "stopped: no improvement in stage 1 |", md)
        self.assertTrue(os.path.isfile(os.path.join(out, "mlp_orig.png")))
        # A run that reached its spec's epoch budget has no stop record: "finished".
        done = os.path.join(self.d, "done")
        os.makedirs(done)
        with open(os.path.join(done, "spec.json"), "w") as f:
            json.dump({"training": {"epochs": 2}}, f)
        with open(os.path.join(done, "metrics.jsonl"), "w") as f:
            for e in range(2):
                f.write(json.dumps({"kind": "epoch", "epoch": e, "n_train": 100, "segments": 5, "seconds": 1.0}) + "\n")
        r = self.run_report("--eval", ev, "--out", out, "--run", f"plain={done}")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("| finished (2 epochs) |", open(os.path.join(out, "report.md")).read())

    def test_figure_panels(self):
        ev = os.path.join(self.d, "eval")
        write_eval(ev, {("l2o:a", "mlp_orig"): [[1.0, 0.1]], ("l2o:b", "mlp_orig"): [[1.0, 0.5]],
                        ("l2o:a", "mlp_relu"): [[1.0, 0.2]], ("adam", "mlp_relu"): [[1.0, 0.3]]})
        out = os.path.join(self.d, "out")
        r = self.run_report("--eval", ev, "--out", out, "--label-map", "l2o:a=L2O-DM-CL-IL",
                            "--label-map", "l2o:b=RNNprop", "--figure", "A3=L2O-DM-CL-IL,RNNprop,L2O-Scale")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("--figure A3: no curves for 'L2O-Scale'", r.stderr)
        self.assertTrue(os.path.getsize(os.path.join(out, "A3.png")) > 10000)  # two panels drawn
        self.assertIn("- [A3](A3.png)", open(os.path.join(out, "report.md")).read())
        for bad, why in (("A3", "expected NAME=COLUMN"), ("A3=", "expected NAME=COLUMN"),
                         ("../x=RNNprop", "NAME may hold")):
            r = self.run_report("--eval", ev, "--out", out, "--figure", bad)
            self.assertEqual(r.returncode, 2, bad)
            self.assertIn(why, r.stderr)

    def test_thin_curves_and_summary_only_give_the_same_cells(self):
        # Seed 0 finishes 250 steps at 1e-3, seed 1 at 1e-4, seed 2 diverges at step 137.
        seeds = [[1.0] * 250 + [1e-3], [1.0] * 250 + [1e-4], [1.0] * 137]
        full = os.path.join(self.d, "full")
        write_eval(full, {("adam", "mlp_orig"): seeds})
        with open(os.path.join(full, "summary.json")) as f:
            doc = json.load(f)
        doc["results"][0].update(steps=250, seeds=3, diverged=1, mean_log10_final_loss=-3.5)
        with open(os.path.join(full, "summary.json"), "w") as f:
            json.dump(doc, f)
        # curves_thin.csv keeps steps 0-100, every 100th and each seed's last row (engine/evaluate.cpp).
        thin = os.path.join(self.d, "thin")
        os.makedirs(thin)
        with open(os.path.join(full, "curves.csv")) as f, open(os.path.join(thin, "curves_thin.csv"), "w") as g:
            rows = f.read().splitlines()
            g.write(rows[0] + "\n")
            for i, row in enumerate(rows[1:], start=1):
                s, t = (int(x) for x in row.split(",")[2:4])
                last = i + 1 == len(rows) or int(rows[i + 1].split(",")[2]) != s
                if t <= 100 or t % 100 == 0 or last:
                    g.write(row + "\n")
        with open(os.path.join(thin, "summary.json"), "w") as f:
            json.dump(doc, f)
        per_seed = os.path.join(self.d, "per_seed")  # summary.json with final_losses, no curves
        os.makedirs(per_seed)
        with open(os.path.join(per_seed, "summary.json"), "w") as f:
            json.dump({"results": [dict(doc["results"][0], final_losses=[1e-3, 1e-4, None], seed_ids=[0, 1, 2],
                                        late_median_losses=[1e-2, 1e-4, None])]}, f)
        old = os.path.join(self.d, "old")  # an older summary.json alone: the mean only
        os.makedirs(old)
        with open(os.path.join(old, "summary.json"), "w") as f:
            json.dump(doc, f)
        cell = "-3.50 \u00b1 0.50 (1 diverged)"
        for d, want in ((full, cell), (thin, cell), (per_seed, cell), (old, "-3.50 (std not kept) (1 diverged)")):
            out = os.path.join(self.d, "out_" + os.path.basename(d))
            r = self.run_report("--eval", d, "--out", out)
            self.assertEqual(r.returncode, 0, r.stderr)
            md = open(os.path.join(out, "report.md")).read()
            self.assertIn(f"| MLP-orig | {want} |", md, d)
            self.assertEqual(os.path.isfile(os.path.join(out, "mlp_orig.png")), d in (full, thin), d)
        self.assertIn("| summary only | not recorded |", md)
        # Table 1b appears only for evaluations that recorded the late medians: log10 -2 and -4.
        self.assertNotIn("Table 1b", open(os.path.join(self.d, "out_full", "report.md")).read())
        per_seed_md = open(os.path.join(self.d, "out_per_seed", "report.md")).read()
        self.assertIn("## Table 1b", per_seed_md)
        self.assertIn("| MLP-orig | -3.00 \u00b1 1.00 (1 diverged) |", per_seed_md)
        self.assertIn("\"std not kept\" marks", md)
        # late_median_losses of the wrong length, too.
        with open(os.path.join(per_seed, "summary.json"), "w") as f:
            json.dump({"results": [dict(doc["results"][0], late_median_losses=[1e-3])]}, f)
        r = self.run_report("--eval", per_seed, "--out", os.path.join(self.d, "o"))
        self.assertEqual(r.returncode, 2)
        self.assertIn(os.path.join(per_seed, "summary.json") + ": adam on mlp_orig: late_median_losses is not a list "
                      "of 3", r.stderr)
        # final_losses of the wrong length names the file and the problem.
        with open(os.path.join(per_seed, "summary.json"), "w") as f:
            json.dump({"results": [dict(doc["results"][0], final_losses=[1e-3])]}, f)
        r = self.run_report("--eval", per_seed, "--out", os.path.join(self.d, "o"))
        self.assertEqual(r.returncode, 2)
        self.assertIn(os.path.join(per_seed, "summary.json") + ": adam on mlp_orig: final_losses is not a list of 3",
                      r.stderr)

    def test_setup_names_what_made_each_evaluation(self):
        ev = os.path.join(self.d, "eval")
        write_eval(ev, {("adam", "mlp_orig"): [[1.0, 0.5]]})
        with open(os.path.join(ev, "summary.json")) as f:
            doc = json.load(f)
        doc["provenance"] = {"git_commit": "abc123", "cpu": "AMD EPYC", "cpu_built_for": "AVX2+FMA",
                             "ran_on": "mlp_orig runs on cpu", "command": "l2o_eval --optimizer adam"}
        with open(os.path.join(ev, "summary.json"), "w") as f:
            json.dump(doc, f)
        old = os.path.join(self.d, "old")  # a summary from before provenance was recorded
        write_eval(old, {("sgd", "mlp_orig"): [[1.0, 0.7]]})
        out = os.path.join(self.d, "out")
        r = self.run_report("--eval", ev, "--eval", old, "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        md = open(os.path.join(out, "report.md")).read()
        self.assertIn("| commit abc123; CPU AMD EPYC, built for AVX2+FMA; mlp_orig runs on cpu |", md)
        self.assertIn(f"| `{old}` | MLP-orig | sgd | 1 | 1 (ids 0) | kept | not recorded |", md)
        self.assertEqual(md.count("| commit "), 1)

    def test_bad_run_arguments_name_the_problem(self):
        ev = os.path.join(self.d, "eval")
        write_eval(ev, {("adam", "mlp_orig"): [[1.0, 0.5]]})
        r = self.run_report("--eval", ev, "--out", os.path.join(self.d, "o"), "--run", "no-equals-sign")
        self.assertEqual(r.returncode, 2)
        self.assertIn("expected LABEL=RUN_DIR", r.stderr)
        missing = os.path.join(self.d, "nope")
        r = self.run_report("--eval", ev, "--out", os.path.join(self.d, "o"), "--run", f"x={missing}")
        self.assertEqual(r.returncode, 2)
        self.assertIn(os.path.join(missing, "metrics.jsonl"), r.stderr)
        bad = os.path.join(self.d, "bad")
        os.makedirs(bad)
        with open(os.path.join(bad, "metrics.jsonl"), "w") as f:
            f.write('{"kind": "epoch"}\n{oops\n')
        r = self.run_report("--eval", ev, "--out", os.path.join(self.d, "o"), "--run", f"x={bad}")
        self.assertEqual(r.returncode, 2)
        self.assertIn("metrics.jsonl:2: not a JSON line", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
