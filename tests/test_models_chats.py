"""Hostile chats: nothing is fetched from the network, wrong types and limits are refused naming the entry."""

import socket
import threading

import pytest

import tam
from tam.images import MAX_FRAMES, load_frames
from tam.models import load_model
from tam.models.chats import MAX_TEXT_CHARACTERS, ChatError


@pytest.fixture(scope="module")
def twin():
    return load_model("tiny-qwen2-vl")


@pytest.fixture
def listener():
    """A local TCP server that counts the connections made to it: ``(url, connections)``."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    connections, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            connections.append(connection.getpeername())
            connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", connections
    stop.set()
    thread.join()
    server.close()


def user(*content):
    return [{"role": "user", "content": [*content, {"type": "text", "text": "Describe this image."}]}]


REMOTE = {
    "image_url entry": lambda url: {"type": "image_url", "image_url": {"url": f"{url}/a.png"}},
    "image_url string": lambda url: {"type": "image_url", "image_url": f"{url}/a.png"},
    "image as a URL": lambda url: {"type": "image", "image": f"{url}/a.png"},
    "https image": lambda url: {"type": "image", "image": url.replace("http", "https") + "/a.png"},
    "video as a URL": lambda url: {"type": "video", "video": f"{url}/clip.mp4"},
    "a frame as a URL": lambda url: {"type": "video", "video": ["imgs/frames/0000.jpg", f"{url}/1.jpg"]},
    "data: URL": lambda url: {"type": "image", "image": "data:image/png;base64,iVBORw0KGgo="},
}


@pytest.mark.parametrize("case", list(REMOTE))
def test_remote_pictures_and_videos_are_refused_and_no_connection_opens(twin, listener, case):
    url, connections = listener
    model, processor = twin
    with pytest.raises(ChatError, match=r"messages\[0\]\['content'\]\[0\].*(network|image_url)"):
        tam.explain(model, processor, user(REMOTE[case](url)), max_new_tokens=2)
    assert connections == []


def test_one_remote_chat_of_several_fails_alone_naming_its_place(twin, listener):
    from tam.models.explain import explain_chats

    url, connections = listener
    model, processor = twin
    chats = [user({"type": "image", "image": "imgs/demo.jpg"}), user({"type": "image_url", "image_url": url})]
    first, second = explain_chats(model, processor, chats, max_new_tokens=2)
    assert isinstance(first, tam.TokenActivationResult)
    assert isinstance(second, ChatError) and "messages[1][0]['content'][0]" in str(second)
    assert connections == []


WRONG = {
    "a chat that is a string": (
        "Describe this image.",
        "messages must be a non-empty list of messages .dicts., got str",
    ),
    "an empty chat": ([], "messages must be a non-empty list"),
    "content of a number": ([{"role": "user", "content": 5}], r"messages\[0\]\['content'\] must be a string or"),
    "a message that is a string": (["hello"], r"messages\[0\] must be a dict"),
    "an entry that is a string": (user("imgs/demo.jpg"), r"\['content'\]\[0\] must be a dict"),
    "text of a number": (
        [{"role": "user", "content": [{"type": "text", "text": 5}]}],
        r"\['content'\]\[0\]\['text'\] must be a string, got int 5",
    ),
    "image of a number": (user({"type": "image", "image": 5}), r"\['image'\] must be a file path, a PIL image"),
    "a video of a dict": (user({"type": "video", "video": {"a": 1}}), r"\['video'\] must be a file path or a list"),
    "an unknown entry": (user({"type": "audio", "audio": "a.wav"}), r"\['content'\]\[0\] must be \{'type': 'image'"),
    "a type without its key": (user({"type": "image", "path": "imgs/demo.jpg"}), r"got keys \['path', 'type'\]"),
    "too many frames": (
        user({"type": "video", "video": ["missing.jpg"] * (MAX_FRAMES + 1)}),
        f"holds {MAX_FRAMES + 1} frames; a video takes 1 to {MAX_FRAMES}",
    ),
    "a text too long": (
        [
            {
                "role": "user",
                "content": [{"type": "image", "image": "missing.png"}, {"type": "text", "text": "a" * 20000}],
            }
        ],
        f"hold 20000 characters, over the limit of {MAX_TEXT_CHARACTERS}",
    ),
}


@pytest.mark.parametrize("case", list(WRONG))
def test_wrong_typed_chats_are_refused_naming_the_entry_before_anything_is_read(twin, case):
    model, processor = twin
    messages, message = WRONG[case]
    with pytest.raises(ChatError, match=message):
        tam.explain(model, processor, messages, max_new_tokens=2)


def test_methods_given_as_one_string_are_refused_naming_the_argument(twin):
    model, processor = twin
    with pytest.raises(tam.errors.TAMError, match=r"methods must be a list of method names .*got 'attention'"):
        tam.explain(model, processor, user({"type": "image", "image": "imgs/demo.jpg"}), methods="attention")


def test_a_frames_list_over_the_limit_is_refused_before_any_frame_is_read():
    with pytest.raises(tam.errors.ImageFileError, match=f"at most {MAX_FRAMES} frames .*got {MAX_FRAMES + 1}"):
        load_frames(["missing.jpg"] * (MAX_FRAMES + 1))


def test_a_video_file_over_the_frame_limit_is_refused_naming_the_entry_before_decoding(tmp_path):
    pytest.importorskip("av")
    from tam.models.chats import check_chat
    from tests.hostile_files import long_video

    clip = long_video(tmp_path / "long.mp4", MAX_FRAMES + 1)
    chat = [{"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "video", "video": str(clip)}]}]
    with pytest.raises(
        ChatError, match=rf"messages\[0\]\['content'\]\[1\]\['video'\]: the video file .* holds {MAX_FRAMES + 1} frames"
    ):
        check_chat(chat)
    check_chat([{"role": "user", "content": [{"type": "video", "video": str(long_video(tmp_path / "ok.mp4", 8))}]}])


def test_a_video_file_asked_for_more_frames_than_the_limit_is_refused():
    from tam.models.chats import check_chat

    entry = {"type": "video", "video": "clip.mp4", "nframes": MAX_FRAMES + 2}
    with pytest.raises(ChatError, match=rf"\['nframes'\] is {MAX_FRAMES + 2}; a video takes at most {MAX_FRAMES}"):
        check_chat([{"role": "user", "content": [entry]}])


@pytest.mark.parametrize(
    "messages, where",
    [
        (
            [{"role": "user", "content": [{"type": "text", "text": "Describe \udcff this"}]}],
            r"\['content'\]\[0\]\['text'\]",
        ),
        (
            [{"role": "system", "content": "be \ud800 brief"}, {"role": "user", "content": "Hi"}],
            r"messages\[0\]\['content'\]",
        ),
    ],
)
def test_texts_holding_lone_surrogates_are_refused_naming_the_entry(messages, where):
    from tam.models.chats import check_chat

    with pytest.raises(ChatError, match=where + r" holds a lone surrogate .* at character \d+, which is no text"):
        check_chat(messages)
