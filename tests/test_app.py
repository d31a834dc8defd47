"""python -m tam.app on toy-shapes in Chromium: upload, ask, the answer, the map on the circle, bad uploads, tabs."""

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tam.visuals.notebook import FRAME_HEIGHT
from tests.report_browser import CHROMIUM_ARGS, require_browser

try:
    from playwright.sync_api import Error as PlaywrightError
except ImportError:  # the tests skip without Playwright
    PlaywrightError = Exception

ROOT = Path(__file__).resolve().parents[1]
PICTURE = ROOT / "imgs" / "toy-shapes.jpg"
WAIT_MS = 90_000  # the longest wait for the page: generous, for a machine shared with other jobs


def circle_mask() -> np.ndarray:
    """The red disc of imgs/toy-shapes.jpg, from its colours alone (the scene's circle is its only red shape)."""
    from PIL import Image

    rgb = np.asarray(Image.open(PICTURE).convert("RGB")).astype(int)
    return (rgb[..., 0] > 150) & (rgb[..., 1] < 90) & (rgb[..., 2] < 90)


def test_uploads_are_counted_size_checked_and_read_as_pictures(tmp_path):
    from tam.app import MAX_PICTURES, UploadError, read_uploads

    (picture,) = read_uploads([PICTURE], max_bytes=PICTURE.stat().st_size)
    assert picture.mode == "RGB" and picture.size == (168, 168)
    with pytest.raises(UploadError, match="upload at least one picture first"):
        read_uploads([], max_bytes=10**6)
    with pytest.raises(UploadError, match=f"at most {MAX_PICTURES} pictures per question, got {MAX_PICTURES + 1}"):
        read_uploads([PICTURE] * (MAX_PICTURES + 1), max_bytes=10**6)
    with pytest.raises(UploadError, match=r"toy-shapes.jpg is 0.0 MB, more than the 0.0 MB allowed"):
        read_uploads([PICTURE], max_bytes=PICTURE.stat().st_size - 1)
    fake = tmp_path / "notes.png"
    fake.write_text("not a picture")
    with pytest.raises(UploadError, match=r"^notes.png is not a picture tam can read: ") as caught:
        read_uploads([fake], max_bytes=10**6)
    assert str(tmp_path) not in str(caught.value)  # named as uploaded, not by the server's path


def test_the_explorer_streams_the_answer_then_makes_the_maps_with_the_model_it_holds(tmp_path):
    from tam.app import Explorer
    from tam.images import load_image
    from tam.models import load_model

    explorer = Explorer(*load_model("toy-shapes"), "toy-shapes", tmp_path)
    chat = explorer.chat([load_image(PICTURE)], "Describe this image.")
    for round_number in (1, 2):
        steps = list(explorer.stream(chat))
        stages = [stage for stage, _ in steps]
        assert stages[-1] == "done" and set(stages[:-1]) <= {"generating", "mapping"} and "generating" in stages
        answers = [value for stage, value in steps if stage == "generating"]
        assert answers == sorted(answers, key=len) and answers[-1].strip() == "a circle, a square and a star."
        assert steps[-1][1].answer == "a circle, a square and a star." and explorer.answers == round_number
    archive, report = explorer.write(steps[-1][1])
    assert archive.is_relative_to(tmp_path) and report.is_relative_to(tmp_path)


def test_pictures_sent_as_a_videos_frames_are_one_video(tmp_path):
    from tam.app import Explorer, read_uploads
    from tam.models import load_model

    frames = sorted((ROOT / "imgs" / "frames").glob("*.jpg"))[:4]
    explorer = Explorer(*load_model("tiny-qwen2-vl"), "tiny-qwen2-vl", tmp_path, max_new_tokens=2)
    chat = explorer.chat(read_uploads(frames, max_bytes=10**7), "Describe this video.", as_video=True)
    *_, (stage, result) = explorer.stream(chat)
    # Qwen2-VL merges two frames into one time step: four frames are two grids of one video
    assert stage == "done" and result.layout.kind == "video" and len(result.layout.grids) == len(result.images) == 2


def test_without_gradio_the_app_says_what_to_install(monkeypatch, capsys):
    import importlib.util

    from tam import app

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gradio" else real(name, *a))
    assert app.main(["--model", "toy-shapes"]) == 2
    assert capsys.readouterr().err == (
        'tam.app: error: the app is built with Gradio, which is not installed: pip install "tam[app]" '
        "(or pip install -r requirements.txt)\n"
    )


def test_an_unknown_model_is_one_line_and_leaves_the_temporary_folder_as_it_was(capsys):
    import tempfile

    pytest.importorskip("gradio", reason="the app's extra is not installed: pip install 'tam[app]'")
    from tam import app

    before = (os.environ.get("TMPDIR"), tempfile.gettempdir())
    assert app.main(["--model", "no-such-folder/or-model"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("tam.app: error: ") and error.count("\n") == 1, error
    assert (os.environ.get("TMPDIR"), tempfile.gettempdir()) == before


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """The app in its own process, its output read line by line."""

    def __init__(self, folder: Path) -> None:
        self.cwd, self.tmp = folder / "cwd", folder / "tmp"
        self.cwd.mkdir()
        self.tmp.mkdir()
        self.port = free_port()
        environment = {**os.environ, "TMPDIR": str(self.tmp), "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tam.app", "--model", "toy-shapes", "--port", str(self.port)],
            cwd=self.cwd,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # Ctrl+C reaches the app even when pytest runs in the background, ignoring SIGINT (which the app inherits)
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.lines: queue.Queue = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)
            self.lines.put(line)

    def wait_for(self, text: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if text in self.lines.get(timeout=0.5):
                    return
            except queue.Empty:
                if self.process.poll() is not None:
                    break
        raise AssertionError(f"the app did not print {text!r}: {''.join(self.output)}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pytest.importorskip("gradio", reason="the app's extra is not installed: pip install 'tam[app]'")
    require_browser()
    app = Server(tmp_path_factory.mktemp("app"))
    try:
        app.wait_for(f"at http://127.0.0.1:{app.port}/", 120)
        yield app
    finally:
        if app.process.poll() is None:
            app.process.kill()


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=require_browser(), args=CHROMIUM_ARGS)
        yield chromium.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        chromium.close()


def open_tab(browser, server):
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"http://127.0.0.1:{server.port}/")
    page.wait_for_selector("#tam-ask", timeout=WAIT_MS)
    return page, errors


UPLOAD_TRIES = 3
UPLOADED = r"""name => {
    const box = document.querySelector("#tam-pictures");
    const text = box === null ? "" : box.innerText;
    return text.replace(/\s/g, "").includes(name) && !text.includes("Uploading");  // the list breaks names at the dot
}"""


def upload(page, path: Path) -> None:
    """Upload one file to the pictures box and wait until it arrived; if it never does, reload and upload again.

    The box lists the name as soon as the file is picked, and says "Uploading" until the server has it.
    CI once saw the name never appear in 90 s for a 13-byte file that passes in every run here: the page had
    not taken the file. The app cannot answer about a file it never got, so a fresh page gets it again.
    """
    for attempt in range(1, UPLOAD_TRIES + 1):
        page.set_input_files("#tam-pictures input[type=file]", str(path))
        try:
            page.wait_for_function(UPLOADED, arg=path.name, timeout=WAIT_MS // UPLOAD_TRIES)
            return
        except PlaywrightError as stuck:
            if attempt == UPLOAD_TRIES:
                shown = page.inner_text("#tam-pictures")
                message = f"{path.name} was not uploaded after {attempt} tries; the box shows {shown!r}"
                raise AssertionError(message) from stuck
            page.reload()
            page.wait_for_selector("#tam-ask", timeout=WAIT_MS)


def status(page) -> str:
    return page.inner_text("#tam-status")


def report_frame(page, opacity: str = "50", method: str = "tam"):
    """The frame of the report shown now, once ready, at the given opacity (percent) and method."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        try:
            element = page.query_selector("#tam-report iframe.tam-report")
            frame = element.content_frame() if element else None
            ready = frame and frame.query_selector("body[data-ready=true]")
            if (
                ready
                and frame.input_value("#opacity") == opacity
                and frame.get_attribute("body", "data-method") == method
            ):
                return frame
        except PlaywrightError:  # the report was replaced while being read
            pass
        page.wait_for_timeout(200)
    raise AssertionError("no ready report in the page")


def shown_levels(frame) -> np.ndarray:
    """The map shown at opacity 1, read back as JET levels 0..255 per pixel (every pixel is a table colour)."""
    import base64
    import io

    from PIL import Image

    from tam.visuals import jet_table

    url = frame.eval_on_selector(".method-group:not([hidden]) canvas", "canvas => canvas.toDataURL()")
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))
    table = jet_table().astype(int)
    codes = {tuple(colour): level for level, colour in enumerate(table.tolist())}
    levels = np.array([codes[tuple(p)] for p in pixels.reshape(-1, 3).tolist()]).reshape(pixels.shape[:2])
    return levels


def on_and_off(levels: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Mean level on the mask and off it, the mask scaled to the canvas (nearest pixel)."""
    rows = np.arange(levels.shape[0]) * mask.shape[0] // levels.shape[0]
    columns = np.arange(levels.shape[1]) * mask.shape[1] // levels.shape[1]
    scaled = mask[rows][:, columns]
    return float(levels[scaled].mean()), float(levels[~scaled].mean())


def test_ask_about_the_toy_picture_and_see_circle_on_the_circle(server, browser, tmp_path):
    page, errors = open_tab(browser, server)
    upload(page, PICTURE)
    page.click("#tam-ask")
    page.wait_for_function(
        "() => document.querySelector('#tam-answer textarea').value.includes('star.')", timeout=WAIT_MS
    )
    assert page.input_value("#tam-answer textarea") == "a circle, a square and a star."
    report_frame(page)
    height = page.eval_on_selector("#tam-report iframe.tam-report", "frame => frame.getBoundingClientRect().height")
    assert height != FRAME_HEIGHT  # the frame took the report's own height
    # the page's opacity switch redraws the report with the map alone (opacity 1): the colours are the map's
    page.fill("#tam-opacity input[type=number]", "1")
    page.keyboard.press("Enter")
    frame = report_frame(page, opacity="100")
    mask = circle_mask()
    frame.locator("#answer .tok", has_text="square").click()
    square_on, _ = on_and_off(shown_levels(frame), mask)
    frame.locator("#answer .tok", has_text="circle").click()
    assert frame.inner_text("#token-shown").strip() == "circle"
    on, off = on_and_off(shown_levels(frame), mask)
    assert on > off + 100, (on, off)  # the map of "circle" lies on the circle
    assert on > square_on + 100, (on, square_on)  # that of "square" does not

    # the method switch of the page opens the report on another method
    raw = page.locator("#tam-method input[value=raw]")
    raw.scroll_into_view_if_needed()  # Playwright's own scroll misses it while the report's frame is in focus
    raw.click()
    frame = report_frame(page, opacity="100", method="raw")
    assert frame.locator("#methods input[value=raw]").is_checked()

    # the result folder comes as a zip
    link = page.get_attribute("#tam-zip a[href]", "href")
    assert link.endswith("tam-result.zip"), link
    saved = tmp_path / "result.zip"
    saved.write_bytes(page.request.get(link).body())
    with zipfile.ZipFile(saved) as archive:
        assert {"result/meta.json", "result/arrays.npz"} <= set(archive.namelist())
    assert not errors, errors
    page.close()


def test_a_bad_upload_is_a_message_in_the_page(server, browser, tmp_path):
    page, errors = open_tab(browser, server)
    fake = tmp_path / "notes.jpg"
    fake.write_text("not a picture")
    upload(page, fake)
    page.click("#tam-ask")
    page.wait_for_function("() => document.querySelector('#tam-status').innerText.includes('refused')", timeout=WAIT_MS)
    assert "notes.jpg is not a picture tam can read" in status(page)
    assert server.process.poll() is None and not errors
    page.close()


def test_two_tabs_asking_at_once_queue_and_reuse_the_loaded_model(server, browser):
    tabs = [open_tab(browser, server) for _ in range(2)]
    questions = ["Describe this image.", "Write a one-sentence caption for this image:"]
    for (page, _), question in zip(tabs, questions, strict=True):
        upload(page, PICTURE)
        page.fill("#tam-question textarea", question)
    for page, _ in tabs:
        page.click("#tam-ask")
    for page, errors in tabs:
        page.wait_for_function(
            "() => document.querySelector('#tam-answer textarea').value.includes('star.')", timeout=WAIT_MS
        )
        report_frame(page)
        assert not errors, errors
    # one model, loaded once, answered the tabs one after the other (the first test asked once)
    counts = sorted(int(re.search(r"questions answered: (\d+)", status(page)).group(1)) for page, _ in tabs)
    assert counts == [2, 3], counts
    for page, _ in tabs:
        page.close()


def test_the_server_stops_cleanly_and_leaves_no_file(server):
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(timeout=30) == 0, "".join(server.output)
    server.wait_for("tam.app: stopped", 5)
    assert list(server.tmp.iterdir()) == [] and list(server.cwd.iterdir()) == []
