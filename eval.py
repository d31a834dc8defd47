"""Evaluate token activation maps against segmentation masks (not implemented yet: see the eval issue)."""

import sys

if __name__ == "__main__":
    sys.exit("eval.py is not implemented yet: the evaluation comes after the model adapters.")
