"""``python -m tam.app --model NAME``: a local web app that keeps one model loaded and explains answer after answer.

Upload one or more pictures (or a video's frames), ask a question, watch the answer come,
then read the report of the result (the one ``result.save_html`` writes, in a sandboxed
frame): click words and phrases, switch methods and opacity, download the result folder
(zip) or the report. Built with Gradio (``pip install "tam[app]"``).

- The model is loaded once, at start; every question reuses it. Questions from several
  browser tabs wait in one queue and run one at a time.
- It listens on 127.0.0.1 only, unless ``--host`` says otherwise.
- Uploads are size-checked (``--max-upload-mb``) and read only through
  :func:`tam.images.load_image`, as ``tam.explain`` reads pictures; a bad upload is a
  message in the page.
- Everything it writes (uploads, results, reports) lies in its own temporary folder,
  removed when it stops (Ctrl+C or SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import shutil
import signal
import sys
import tempfile
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tam.errors import TAMError

__all__ = ["MAX_PICTURES", "Explorer", "UploadError", "build_app", "main", "read_uploads"]

PROGRAM = "tam.app"
MAX_PICTURES = 16
"""Most pictures (or frames) one question takes."""

_INSTALL = 'pip install "tam[app]" (or pip install -r requirements.txt)'


class UploadError(TAMError, ValueError):
    """An upload that is not a picture tam reads, or that is too large."""


def read_uploads(paths: Sequence[str | os.PathLike], *, max_bytes: int) -> list:
    """Read uploaded files as pictures, checking their number and size first.

    Parameters
    ----------
    paths : sequence of path
        The uploaded files, in order.
    max_bytes : int
        Largest file accepted, in bytes.

    Returns
    -------
    list of PIL.Image.Image
        Upright 8-bit RGB (:func:`tam.images.load_image`).

    Raises
    ------
    UploadError
        No file, more than :data:`MAX_PICTURES`, a file over ``max_bytes``, or one that is not
        a picture (the message names the file by its uploaded name).
    """
    from tam.errors import ImageFileError
    from tam.images import load_image

    if not paths:
        raise UploadError("upload at least one picture first")
    if len(paths) > MAX_PICTURES:
        raise UploadError(f"at most {MAX_PICTURES} pictures per question, got {len(paths)}")
    pictures = []
    for path in paths:
        name = Path(path).name
        size = os.path.getsize(path)
        if size > max_bytes:
            raise UploadError(f"{name} is {size / 2**20:.1f} MB, more than the {max_bytes / 2**20:.1f} MB allowed")
        try:
            pictures.append(load_image(path))
        except ImageFileError as error:
            raise UploadError(f"{name} is not a picture tam can read: {str(error).replace(str(path), name)}") from None
    return pictures


@dataclass
class Explorer:
    """The loaded model and what the app has done with it: explain one question at a time.

    Attributes
    ----------
    model, processor
        As :func:`tam.models.load_model` gives them.
    name : str
        The model's name, for the page.
    workdir : Path
        The app's own folder: every result and report it writes goes under it.
    max_new_tokens : int
    methods : tuple of str
        Methods computed from the model beside TAM and its ablations (``attention``, ...).
    answers : int
        Questions answered since the model was loaded.
    """

    model: object
    processor: object
    name: str
    workdir: Path
    max_new_tokens: int = 64
    methods: tuple[str, ...] = ()
    answers: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def chat(self, pictures: list, question: str, *, as_video: bool = False) -> list[dict]:
        """Build the chat of one question about ``pictures`` (PIL images), or about them as a video's frames."""
        entries = (
            [{"type": "video", "video": pictures}] if as_video else [{"type": "image", "image": p} for p in pictures]
        )
        return [{"role": "user", "content": [*entries, {"type": "text", "text": question}]}]

    def stream(self, chat: list[dict]):
        """Explain ``chat``, yielding what is being done: the answer as it is generated, then the result.

        Yields
        ------
        (str, object)
            ``("generating", answer so far)`` after each new piece of text, ``("mapping",
            answer)`` once generating is over and the maps are being made, and last
            ``("done", result)``. The error of a failed generation or explanation is raised
            from the generator.
        """
        from transformers import TextIteratorStreamer

        import tam

        streamer = TextIteratorStreamer(self.processor.tokenizer, skip_prompt=True, skip_special_tokens=True)
        outcome: dict = {}

        def work() -> None:
            try:
                outcome["result"] = tam.explain(
                    self.model,
                    self.processor,
                    chat,
                    max_new_tokens=self.max_new_tokens,
                    methods=self.methods,
                    generate_kwargs={"streamer": streamer},
                )
            except BaseException as error:  # handed to the caller below
                outcome["error"] = error
            finally:
                streamer.end()  # a failure before generating must not leave the reader waiting

        with self._lock:  # one generation at a time, whatever the queue does
            worker = threading.Thread(target=work, name="tam-app-explain", daemon=True)
            worker.start()
            answer = ""
            for piece in streamer:
                answer += piece
                yield "generating", answer
            if worker.is_alive():
                yield "mapping", answer
            worker.join()
        if "error" in outcome:
            raise outcome["error"]
        self.answers += 1
        yield "done", outcome["result"]

    def write(self, result) -> tuple[Path, Path]:
        """Write ``result``'s folder as a zip and its report, under :attr:`workdir`; return both paths."""
        folder = self.workdir / "answers" / uuid.uuid4().hex
        result.save(folder / "result")
        archive = Path(shutil.make_archive(str(folder / "tam-result"), "zip", folder, "result"))
        report = result.save_html(folder / "tam-report.html", tokenizer=self.processor.tokenizer)
        return archive, report


# Gradio runs no script of an HTML value: the report's frame is sized by its height message here.
_FIT_REPORT_FRAME = """
window.addEventListener("message", (event) => {
  for (const frame of element.querySelectorAll("iframe.tam-report")) {
    if (event.source === frame.contentWindow && typeof (event.data || {}).tamReportHeight === "number") {
      frame.style.height = Math.min(Math.max(event.data.tamReportHeight + 24, 200), 4000) + "px";
    }
  }
});
"""


def build_app(explorer: Explorer, *, max_upload_bytes: int):
    """Build the Gradio page of ``explorer``: upload, ask, read the answer and its report, switch, download.

    Returns
    -------
    gradio.Blocks
        Not launched; :func:`main` queues (one question at a time) and launches it.
    """
    import gradio as gr

    from tam.methods import get_method

    def status(text: str) -> str:
        return f"{text}  \n*{explorer.name}, loaded once; questions answered: {explorer.answers}*"

    def shown(result, method, unit, opacity):
        if result is None:
            return ""
        return result.show(
            method=method, unit=unit, opacity=float(opacity), tokenizer=explorer.processor.tokenizer
        ).html

    # Gradio hands its progress bar to the function through this default
    def ask(files, question, as_video, method, unit, opacity, progress=gr.Progress()):  # noqa: B008
        nothing = gr.update()
        if not (question or "").strip():
            yield nothing, status("Type a question first."), nothing, nothing, nothing, nothing, nothing
            return
        try:
            pictures = read_uploads([getattr(f, "name", f) for f in files or []], max_bytes=max_upload_bytes)
        except UploadError as error:
            yield nothing, status(f"**Upload refused:** {error}"), nothing, nothing, nothing, nothing, nothing
            return
        progress(0, desc="generating")
        try:
            chat = explorer.chat(pictures, question.strip(), as_video=as_video)
            for count, (stage, value) in enumerate(explorer.stream(chat)):
                if stage == "generating":
                    progress((count + 1, explorer.max_new_tokens), desc="generating", unit="pieces of text")
                    yield value, status("Generating..."), nothing, nothing, nothing, nothing, nothing
                elif stage == "mapping":
                    progress(0.8, desc="making the maps")
                    yield value, status("Making the maps..."), nothing, nothing, nothing, nothing, nothing
                else:
                    result = value
        except (TAMError, ValueError, OSError, RuntimeError) as error:
            yield nothing, status(f"**Could not explain:** {error}"), nothing, nothing, nothing, nothing, nothing
            return
        progress(0.9, desc="drawing the report")
        archive, report = explorer.write(result)
        method = method if method in result.methods else "tam"
        choices = [(get_method(name).title, name) for name in result.methods]
        yield (
            result.answer,
            status(f"Explained {len(result)} tokens. Click a word in the report."),
            shown(result, method, unit, opacity),
            gr.update(choices=choices, value=method),
            result,
            str(archive),
            str(report),
        )

    with gr.Blocks(title=f"tam: {explorer.name}", analytics_enabled=False) as app:
        gr.Markdown(f"## Token activation maps of {explorer.name}")
        with gr.Row():
            with gr.Column(scale=1):
                files = gr.File(
                    label="pictures (one or more, or a video's frames)",
                    file_count="multiple",
                    file_types=["image"],
                    elem_id="tam-pictures",
                )
                as_video = gr.Checkbox(label="the pictures are a video's frames", value=False)
                question = gr.Textbox(label="question", value="Describe this image.", elem_id="tam-question")
                ask_button = gr.Button("Ask", variant="primary", elem_id="tam-ask")
                answer = gr.Textbox(label="answer", interactive=False, elem_id="tam-answer")
                message = gr.Markdown(status("Upload a picture and ask."), elem_id="tam-status")
            with gr.Column(scale=2):
                with gr.Row():
                    method = gr.Radio(choices=["tam"], value="tam", label="method", elem_id="tam-method")
                    unit = gr.Radio(choices=["word", "token"], value="word", label="select", elem_id="tam-unit")
                    opacity = gr.Slider(0, 1, value=0.5, step=0.05, label="opacity", elem_id="tam-opacity")
                report = gr.HTML(elem_id="tam-report", js_on_load=_FIT_REPORT_FRAME)
                with gr.Row():
                    archive = gr.File(label="result folder (zip)", interactive=False, elem_id="tam-zip")
                    page = gr.File(label="report (HTML)", interactive=False, elem_id="tam-html")
        result = gr.State(None)
        ask_button.click(
            ask,
            [files, question, as_video, method, unit, opacity],
            [answer, message, report, method, result, archive, page],
        )
        for control in (method, unit, opacity):
            control.change(shown, [result, method, unit, opacity], report)
    return app


def build_parser() -> argparse.ArgumentParser:
    """Describe the command line of ``python -m tam.app``."""
    from tam.models.loading import model_choices

    parser = argparse.ArgumentParser(prog=f"python -m {PROGRAM}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="toy-shapes", help=f"the model to load once ({model_choices()})")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on (default 7860)")
    parser.add_argument("--device", help="where the model runs (default: the GPU if there is one)")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="longest answer (default 64)")
    parser.add_argument(
        "--methods", default="", help="methods computed from the model beside TAM, comma-separated (attention,gradcam)"
    )
    parser.add_argument("--max-upload-mb", type=float, default=20.0, help="largest picture file accepted (default 20)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Load the model, serve the page until Ctrl+C or SIGTERM, then remove the app's folder.

    Returns
    -------
    int
        0 once stopped, 2 on bad input (one line on stderr).
    """
    args = build_parser().parse_args(argv)
    if importlib.util.find_spec("gradio") is None:
        return _fail(f"the app is built with Gradio, which is not installed: {_INSTALL}")
    if args.max_upload_mb <= 0 or args.max_new_tokens < 1:
        return _fail("--max-upload-mb and --max-new-tokens must be positive")
    with _own_temporary_folder() as workdir:
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops as Ctrl+C does
        try:
            return _serve(args, workdir)
        except KeyboardInterrupt:
            return 0
        finally:
            signal.signal(signal.SIGTERM, previous)


def _fail(text: str) -> int:
    print(f"{PROGRAM}: error: {text}", file=sys.stderr)
    return 2


@contextlib.contextmanager
def _own_temporary_folder():
    """Make a folder that every temporary file of the app and its libraries goes to, and remove it after.

    Gradio's uploads and downloads (``GRADIO_TEMP_DIR``), and whatever torch or Gradio put
    in the temporary folder (``TMPDIR``, :data:`tempfile.tempdir`); the settings before are
    put back.
    """
    workdir = Path(tempfile.mkdtemp(prefix="tam-app-"))
    saved = {name: os.environ.get(name) for name in ("GRADIO_TEMP_DIR", "TMPDIR")}
    saved_tempdir = tempfile.tempdir
    os.environ["GRADIO_TEMP_DIR"] = str(workdir / "uploads")
    os.environ["TMPDIR"] = tempfile.tempdir = str(workdir)
    try:
        yield workdir
    finally:
        tempfile.tempdir = saved_tempdir
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(workdir, ignore_errors=True)


def _serve(args, workdir: Path) -> int:
    """Load the model once and serve the page until interrupted."""
    import gradio as gr

    from tam.models import load_model
    from tam.models.explain import model_methods
    from tam.models.registry import adapter_for

    methods = tuple(name.strip() for name in args.methods.split(",") if name.strip())
    try:
        model, processor = load_model(args.model, device=args.device)
        model_methods(methods, adapter_for(model, processor))
    except (TAMError, OSError, ValueError) as error:
        return _fail(str(error))
    explorer = Explorer(model, processor, args.model, workdir, args.max_new_tokens, methods)
    app = build_app(explorer, max_upload_bytes=int(args.max_upload_mb * 2**20))
    app.queue(default_concurrency_limit=1)  # tabs wait their turn: one question at a time
    try:
        app.launch(
            server_name=args.host,
            server_port=args.port,
            max_file_size=int(args.max_upload_mb * 2**20),
            prevent_thread_lock=True,
            quiet=True,
            ssr_mode=False,
            footer_links=[],
            theme=gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["monospace"]),
        )
    except OSError as error:
        return _fail(f"cannot listen on {args.host}:{args.port}: {error}")
    print(f"{PROGRAM}: {args.model} at http://{args.host}:{app.server_port}/ (Ctrl+C stops)", flush=True)
    app.block_thread()  # until Ctrl+C or SIGTERM; then it closes the server
    print(f"{PROGRAM}: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
