#!/usr/bin/env python3
"""docs/easel-shapes.png: what Easel's `easel generate` (bundled model, no --model) draws for the
held-out captions of Tests/EaselDiffusionTests/Fixtures/bundled-model, 8 per row, each picture
shown at 2x with the caption's wanted attributes checked by scripts/shapes.py's reader.

    python3 scripts/make_readme_grid.py --binary .build-bin/release/easel
"""
import argparse
import os
import sys
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes  # noqa: E402
from easel_process import generate_held_out, held_out_fixture  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--out", default=os.path.join(REPO, "docs", "easel-shapes.png"))
    args = ap.parse_args()
    fixture = held_out_fixture()
    pictures, right = [], {"colour": 0, "background": 0, "position": 0, "shape": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for i, c in enumerate(fixture["cases"]):
            img = np.array(Image.open(generate_held_out(args.binary, fixture, c, os.path.join(tmp, f"{i}.png")))
                           .convert("RGB"))
            seen = shapes.analyse(img)
            for k in right:
                right[k] += seen[k] == c[k]
            pictures.append(img.repeat(2, 0).repeat(2, 1))
    pad = lambda im: np.pad(im, ((2, 2), (2, 2), (0, 0)), constant_values=255)
    rows = [np.concatenate([pad(p) for p in pictures[r:r + 8]], 1) for r in range(0, len(pictures), 8)]
    Image.fromarray(np.concatenate(rows, 0)).save(args.out, optimize=True)
    print({k: v / len(pictures) for k, v in right.items()}, "->", args.out)


if __name__ == "__main__":
    main()
