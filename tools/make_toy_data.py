"""Write seeded toy scenes in the COCO14 layout that eval.py reads (docs/toy-world.md).

    python tools/make_toy_data.py /tmp/toy-heldout --count 200 --seed 1

Training draws its scenes from seed 0's stream (tools/train_toy.py); use another seed for held-out sets.
"""

from __future__ import annotations

import argparse

from tam.toy.scenes import write_coco14


def main(argv=None) -> int:
    """Parse the command line and write the data set."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="folder to write (annotations/, image/, seg_label/)")
    parser.add_argument("--count", type=int, default=200, help="number of scenes (default: 200)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the scenes (default: 1)")
    parser.add_argument("--overwrite", action="store_true", help="write into a folder that holds a data set")
    args = parser.parse_args(argv)
    root = write_coco14(args.out, args.count, args.seed, overwrite=args.overwrite)
    print(f"wrote {args.count} scenes (seed {args.seed}) to {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
