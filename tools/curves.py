"""Evaluation curves written by l2o_eval (curves.csv): loading and per-step statistics.

Shared by tools/plot and tools/report. curves.csv has the header optimizer,problem,seed,step,loss;
load_csv returns its rows as flat numpy arrays plus a group id per row, one group per
(problem, optimizer). numpy is imported inside the functions, so importing this module (and
running a script's --help) does not need it.
"""
import csv
import os

EXPECTED_HEADER = ["optimizer", "problem", "seed", "step", "loss"]
MAX_DRAWN_POINTS = 2000  # per line; more adds nothing visible and slows saving
LOG_FLOOR = 1e-30  # a zero loss counts as this, as in engine/evaluate.cpp summarize()


class InputError(Exception):
    """Bad input (missing or malformed file); the scripts print it and exit with code 2."""


def load_csv(path):
    """Returns (keys, gid, seed, step, loss): keys[gid[i]] = (problem, optimizer) of row i."""
    import warnings
    import numpy as np

    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file")
    with open(path, newline="") as f:
        first = f.readline()
        header = next(csv.reader([first]), None)
        if not first.strip() or header is None:
            raise InputError(f"{path}: empty file (expected header {','.join(EXPECTED_HEADER)})")
        if [h.strip() for h in header] != EXPECTED_HEADER:
            raise InputError(f"{path}: unexpected header {first.strip()!r} "
                             f"(expected {','.join(EXPECTED_HEADER)})")
        # numpy's C parser: ~10x faster than the csv module for 10^6-row files.
        dtype = [("optimizer", "O"), ("problem", "O"), ("seed", "i8"), ("step", "i8"), ("loss", "f8")]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "input contained no data" for header-only files
                data = np.loadtxt(f, delimiter=",", quotechar='"', dtype=dtype, ndmin=1)
        except ValueError as e:
            raise InputError(describe_bad_row(path) or f"{path}: {e}")
    opt, prob = data["optimizer"], data["problem"]
    # Rows come in long runs of one (optimizer, problem): map run starts through a dict
    # instead of hashing every row (still correct, just slower, for interleaved rows).
    n = len(data)
    if n:
        change = np.flatnonzero((opt[1:] != opt[:-1]) | (prob[1:] != prob[:-1])) + 1
        starts = np.concatenate(([0], change))
    else:
        starts = np.zeros(0, dtype=np.int64)
    index = {}
    run_ids = np.fromiter((index.setdefault((str(prob[i]).strip(), str(opt[i]).strip()), len(index))
                           for i in starts), dtype=np.int64, count=len(starts))
    gid = np.repeat(run_ids, np.diff(np.append(starts, n)))
    return list(index), gid, data["seed"], data["step"], data["loss"]


def describe_bad_row(path):
    """Slow re-scan, only after numpy rejected the file: names the first bad line (1-based)."""
    with open(path, newline="") as f:
        for lineno, row in enumerate(csv.reader(f), start=1):
            if lineno == 1 or not row:
                continue
            if len(row) != 5:
                return f"{path}:{lineno}: expected 5 fields, found {len(row)}: {','.join(row)!r}"
            for name, text, conv in (("seed", row[2], int), ("step", row[3], int), ("loss", row[4], float)):
                try:
                    conv(text)
                except ValueError:
                    return f"{path}:{lineno}: {name} {text!r} is not a number"
    return None


def step_mean_std(step, value):
    """(steps, mean, std) of value at each distinct step: sorted steps, population std.

    step and value are matching 1-D arrays (e.g. the log loss of every seed of one group); the
    caller drops non-finite values first and passes at least one row.
    """
    import numpy as np

    # bincount over the unique steps: one pass for the mean, a second for the variance.
    steps, inv = np.unique(step, return_inverse=True)
    cnt = np.bincount(inv)
    mean = np.bincount(inv, weights=value) / cnt
    var = np.bincount(inv, weights=(value - mean[inv]) ** 2) / cnt  # two-pass: no cancellation
    return steps, mean, np.sqrt(var)


def downsample(steps, *ys):
    """At most MAX_DRAWN_POINTS evenly spaced points, always keeping the first and last."""
    import numpy as np

    n = len(steps)
    if n <= MAX_DRAWN_POINTS:
        return (steps,) + ys
    idx = np.unique(np.linspace(0, n - 1, MAX_DRAWN_POINTS).round().astype(np.int64))
    return (steps[idx],) + tuple(y[idx] for y in ys)
