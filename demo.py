"""Explain a multimodal LLM's answer token by token (not implemented yet: see the models issue)."""

import sys

if __name__ == "__main__":
    sys.exit("demo.py is not implemented yet: the model adapters come next. Use tam.explain_generation for now.")
