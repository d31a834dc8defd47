"""Checking a chat before anything of it is read: the shape of every entry, no network, the limits.

:func:`check_chat` runs before a chat's pictures are opened or its text tokenized, so a
chat that cannot be explained costs nothing and reaches nothing outside the machine:

- every message is a dict whose ``content`` is a string or a list of entries, and every
  entry is ``{"type": "image", "image": ...}``, ``{"type": "video", "video": ...}`` or
  ``{"type": "text", "text": str}`` (the ``type`` may be left out when the key says it),
  and every text is encodable as UTF-8 (no lone surrogate);
- pictures and videos are local: a path, a ``file://`` path, a ``PIL.Image`` or an array.
  ``image_url`` / ``video_url`` entries and URLs (``http://``, ``data:``...) are refused,
  because the processors' loaders would fetch them from the network;
- the chat's texts hold at most :data:`MAX_TEXT_CHARACTERS` characters and a video at
  most :data:`tam.images.MAX_FRAMES` frames (a video file's counted from its header).

Every refusal is a :class:`tam.errors.TAMError` (``ChatError``) naming the entry, as
``messages[0]['content'][1]``.
"""

from __future__ import annotations

import os
import re

import numpy as np

from tam.errors import ImageFileError, TAMError
from tam.images import MAX_FRAMES, check_video_file

__all__ = ["MAX_TEXT_CHARACTERS", "ChatError", "check_chat"]

MAX_TEXT_CHARACTERS = 16384
"""Most characters of a chat's texts together (about 4000 tokens). The maps of a prompt of
``T`` tokens compare every pair of its tokens, and the hidden states of every input position
are kept while generating, so a far longer chat would take minutes and tens of gigabytes
before failing; a longer text is almost surely pasted by mistake."""

_URL = re.compile(r"^(?:data:|[A-Za-z][A-Za-z0-9+.-]*://)")
_REMOTE_KEYS = ("image_url", "video_url", "input_image", "url")


class ChatError(TAMError):
    """A chat entry of the wrong type, one tam would have to fetch from the network, or over a limit."""


def check_chat(messages, argument: str = "messages") -> list[dict]:
    """Return ``messages`` unchanged once every entry is checked (see the module docstring).

    Parameters
    ----------
    messages : list of dict
        One chat, as for ``processor.apply_chat_template``.
    argument : str
        How the chat is named in messages, e.g. ``"messages[2]"`` for the third chat of several.

    Raises
    ------
    ChatError
        Naming the first entry that is of the wrong type, remote, or over a limit.
    """
    if not isinstance(messages, list) or not messages:
        raise ChatError(f"{argument} must be a non-empty list of messages (dicts), got {_described(messages)}")
    characters = 0
    for message_index, message in enumerate(messages):
        where = f"{argument}[{message_index}]"
        if not isinstance(message, dict):
            raise ChatError(f"{where} must be a dict {{'role': ..., 'content': ...}}, got {_described(message)}")
        content = message.get("content")
        if isinstance(content, str):
            _check_text(content, f"{where}['content']")
            characters += len(content)
            continue
        if not isinstance(content, list):
            raise ChatError(f"{where}['content'] must be a string or a list of entries, got {_described(content)}")
        for entry_index, entry in enumerate(content):
            characters += _check_entry(entry, f"{where}['content'][{entry_index}]")
    if characters > MAX_TEXT_CHARACTERS:
        raise ChatError(
            f"the texts of {argument} hold {characters} characters, over the limit of {MAX_TEXT_CHARACTERS} "
            "(tam.models.chats.MAX_TEXT_CHARACTERS: every pair of prompt tokens is compared); shorten them"
        )
    return messages


def _check_entry(entry, where: str) -> int:
    """Check one content entry; return the characters of its text (0 for a picture or a video)."""
    if not isinstance(entry, dict):
        raise ChatError(f"{where} must be a dict such as {{'type': 'text', 'text': ...}}, got {_described(entry)}")
    remote = next((key for key in _REMOTE_KEYS if key in entry or entry.get("type") == key), None)
    if remote is not None:
        raise ChatError(
            f"{where} is an {remote!r} entry: tam reads no picture from the network; download it and pass "
            "{'type': 'image', 'image': path}"
        )
    kind = entry.get("type") or next((key for key in ("image", "video", "text") if key in entry), None)
    if kind not in ("image", "video", "text") or kind not in entry:
        raise ChatError(
            f"{where} must be {{'type': 'image', 'image': ...}}, {{'type': 'video', 'video': ...}} or "
            f"{{'type': 'text', 'text': ...}}, got keys {sorted(map(str, entry))} with type {entry.get('type')!r}"
        )
    value = entry[kind]
    if kind == "text":
        if not isinstance(value, str):
            raise ChatError(f"{where}['text'] must be a string, got {_described(value)}")
        _check_text(value, f"{where}['text']")
        return len(value)
    if kind == "image" or not isinstance(value, (list, tuple)):
        _check_picture(value, f"{where}[{kind!r}]", video=kind == "video")
        if kind == "video":
            _check_video_file(entry, where)
        return 0
    if not value or len(value) > MAX_FRAMES:
        raise ChatError(
            f"{where}['video'] holds {len(value)} frames; a video takes 1 to {MAX_FRAMES} "
            "(tam.images.MAX_FRAMES): sample fewer"
        )
    for frame_index, frame in enumerate(value):
        _check_picture(frame, f"{where}['video'][{frame_index}]", video=False)
    return 0


def _check_picture(value, where: str, *, video: bool) -> None:
    """Refuse a picture (or video file) that is not local: a URL, or a value of another type."""
    from PIL import Image

    from tam.images import ACCEPTED_IMAGES

    if video and not isinstance(value, (str, os.PathLike)):
        raise ChatError(f"{where} must be a file path or a list of frames, got {_described(value)}")
    array = isinstance(value, np.ndarray) or type(value).__module__.startswith("torch")  # torch not imported here
    if not video and not (isinstance(value, (str, os.PathLike, Image.Image)) or array):
        raise ChatError(f"{where} must be {ACCEPTED_IMAGES}, got {_described(value)}")
    text = os.fspath(value) if isinstance(value, (str, os.PathLike)) else ""
    if isinstance(text, str) and _URL.match(text) and not text.startswith("file://"):
        raise ChatError(
            f"{where} is the URL {text[:60]!r}: tam reads no picture or video from the network (nor decodes data: "
            "URLs); download it and pass the file's path"
        )


def _check_text(text: str, where: str) -> None:
    """Refuse a text holding a lone surrogate (no tokenizer takes it), naming where it sits."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ChatError(
            f"{where} holds a lone surrogate {text[error.start]!r} at character {error.start}, which is no text "
            "(bytes that are not UTF-8, read with errors='surrogateescape'?); give UTF-8 text"
        ) from None


def _check_video_file(entry: dict, where: str) -> None:
    """Refuse a video file over :data:`tam.images.MAX_FRAMES` frames, or asked to be sampled to more."""
    wanted = entry.get("nframes")
    if isinstance(wanted, (int, float)) and not isinstance(wanted, bool) and wanted > MAX_FRAMES:
        raise ChatError(f"{where}['nframes'] is {wanted}; a video takes at most {MAX_FRAMES} (tam.images.MAX_FRAMES)")
    path = os.fspath(entry["video"]).removeprefix("file://")
    if os.path.isfile(path):
        try:
            check_video_file(path)
        except ImageFileError as error:
            raise ChatError(f"{where}['video']: {error}") from None


def _described(value) -> str:
    """``int 5``: a value's type and a short repr, for messages."""
    shown = repr(value)
    return f"{type(value).__name__} {shown[:60] + '...' if len(shown) > 60 else shown}"
