import functools
import os
from pathlib import Path

import pytest

# Nothing in the tests may reach the network: the hub client reads this when first imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# This project's machines keep the offline NLTK data (tagger + WordNet) in ../shared beside the
# repository; use it unless the caller chose another folder. This runs before any test imports nltk.
_SHARED_NLTK_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "nltk_data"
if not os.environ.get("NLTK_DATA") and _SHARED_NLTK_DATA.is_dir():
    os.environ["NLTK_DATA"] = str(_SHARED_NLTK_DATA)


@functools.cache
def nltk_skip_reason() -> str:
    """Why tests that need NLTK's tagger and WordNet skip here; "" when both are installed."""
    from tam.metrics.language import NLTK_DOWNLOAD_COMMAND, missing_nltk_packages

    missing = missing_nltk_packages()
    return f"needs NLTK's {' and '.join(missing)}, not installed: `{NLTK_DOWNLOAD_COMMAND}` fetches them" * bool(
        missing
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "needs_nltk_data: runs a script that needs NLTK's tagger and WordNet (skipped without them)"
    )
    if nltk_skip_reason():
        # tam fetches missing data with nltk.download on first use: here that call skips the test
        # (module fixtures included) with the command that fetches the data, so no test downloads.
        # Tests of the fetching stub nltk.download themselves.
        import nltk

        def skip(*args, **kwargs):
            pytest.skip(nltk_skip_reason())

        nltk.download = skip


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    if item.get_closest_marker("needs_nltk_data") and nltk_skip_reason():
        pytest.skip(nltk_skip_reason())
