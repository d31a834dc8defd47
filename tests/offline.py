"""Environment for a subprocess that must behave as on a machine without network."""

# A proxy that refuses every connection: NLTK's downloader fails at once, as it does offline.
OFFLINE = {"https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": "", "NO_PROXY": ""}
