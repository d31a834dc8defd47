import os
from pathlib import Path

# Nothing in the tests may reach the network: the hub client reads this when first imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# The project's offline NLTK data (tagger + WordNet) lies in ../shared beside the repository;
# use it unless the caller chose another folder. This runs before any test imports nltk.
_SHARED_NLTK_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "nltk_data"
if not os.environ.get("NLTK_DATA") and _SHARED_NLTK_DATA.is_dir():
    os.environ["NLTK_DATA"] = str(_SHARED_NLTK_DATA)
