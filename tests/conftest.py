import os

# Nothing in the tests may reach the network: the hub client reads this when first imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
