"""Score token activation maps on COCO14, GranDf or OpenPSG, as in the TAM paper (docs/evaluation.md).

Usage: ``python eval.py MODEL DATASET_DIR [VIS_DIR] [--limit N] [--methods tam,raw,eci,rgf]
[--results FILE.jsonl] [--resume] [--round0 reference] ...``; ``accelerate launch eval.py ...``
shares the samples among processes. ``python eval.py --help`` lists every option.
"""

import sys

from tam.evaluation.cli import main

if __name__ == "__main__":
    sys.exit(main())
