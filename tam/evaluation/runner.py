"""Run an evaluation over a data set: resumable, sharded over processes, pooled as the paper.

:func:`run_evaluation` asks an :class:`~tam.evaluation.scoring.Explainer` for every
sample's answer and maps (one generation per sample serves every map method), writes one
JSON line per sample as soon as it is scored, and ends with a summary computed from those
lines alone, so a resumed run ends with exactly the summary of an uninterrupted one.

Under ``accelerate launch`` every process takes the samples whose index it owns
(``index % num_processes == process_index``), appends to its own part file and, when
done, leaves a ``.done`` marker beside it; the main process merges the parts once every
marker is there. One process (no launcher) is the same code.

One run at a time writes a results file, and one a vis_dir: :func:`start_evaluation`
takes their locks (``<results>.lock`` and ``<VIS_DIR>.lock`` beside their real paths, which
name the holding process) before anything is read or computed, and checks the output
folders, so a run stops at the start rather than after the model has loaded. See docs/guarantees.md.
"""

from __future__ import annotations

import glob
import json
import logging
import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from tam.errors import InUseError
from tam.evaluation.datasets import Dataset, Sample
from tam.evaluation.faithfulness import (
    FaithfulnessOptions,
    faithfulness_methods,
    score_faithfulness,
    summarize_faithfulness,
)
from tam.evaluation.results import (
    append_record,
    merge_parts,
    open_for_append,
    part_path,
    read_records,
    write_json_atomic,
)
from tam.evaluation.scoring import Explainer, read_mask, score_sample
from tam.files import fit_name, take_lock
from tam.images import load_image
from tam.methods import ABLATIONS, MaskMethod, UnknownMethodError, get_method, method_names
from tam.metrics.faithfulness import RANDOM_ORDER
from tam.metrics.language import CATEGORY_RULES
from tam.metrics.scoring import AnswerScores, MeanAccumulator, PooledIoU
from tam.metrics.text import ROUGE_L_PACKAGES

__all__ = [
    "SAMPLE_ERRORS",
    "EvaluationError",
    "EvaluationRun",
    "curves_path",
    "evaluate_batch",
    "evaluate_one",
    "format_table",
    "run_evaluation",
    "lock_path",
    "settings_path",
    "start_evaluation",
    "summarize",
    "summary_path",
]

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0
"""How often the main process looks whether the other processes have finished."""

SAMPLE_ERRORS = (OSError, ValueError, RuntimeError)
"""Failures recorded against one sample without stopping the run: unreadable, corrupt or
too large pictures (``tam.errors.ImageFileError``, ``OSError``), no mask or one of another
size, an empty answer (``SampleError``, ``tam.SpanError``, all ``ValueError``), and runtime
failures of the model such as running out of memory. Failures of the output (a folder
that cannot be written) stop the run instead."""

SETTINGS_ADDED_LATER = {"rouge_l_package": "rouge-score"}
"""Run settings that older results files lack, with the value those runs used."""


class EvaluationError(ValueError):
    """The run cannot start or go on.

    Its results file is in use, not to be resumed or resumed with other settings, or an
    output folder cannot be written.
    """


def summary_path(results: Path) -> Path:
    """``results.jsonl.summary.json`` beside the results file."""
    return results.with_name(f"{results.name}.summary.json")


def curves_path(results: Path) -> Path:
    """``results.jsonl.curves``: stem of the faithfulness curves' plot (``.png`` and ``.pdf``)."""
    return results.with_name(f"{results.name}.curves")


LOADED_SETTINGS = ("generation", "explain_end_of_turn")
"""Settings known only once the model has loaded (an explainer's ``settings``): a resumed
run compares them in :meth:`EvaluationRun.add_settings`, not before the model loads."""


def settings_path(results: Path) -> Path:
    """``results.jsonl.settings.json``: the settings a resumed run must share."""
    return results.with_name(f"{results.name}.settings.json")


def evaluate_one(
    explainer: Explainer,
    sample: Sample,
    methods: Sequence[str],
    *,
    category_rule: str = "whole-name",
    rouge_l_package: str = "rouge-score",
    vis_dir: Path | None = None,
    faithfulness: FaithfulnessOptions | None = None,
) -> dict:
    """Explain and score one sample; a failure of the sample becomes a record with its reason.

    The picture and the mask are read and checked before the explainer runs, so a bad
    file costs no generation. ``category_rule``, ``rouge_l_package``, ``vis_dir`` and
    ``faithfulness`` are those of :func:`start_evaluation`.

    Returns
    -------
    dict
        The scored record (:func:`tam.evaluation.scoring.score_sample`), or ``{"index",
        "id", "error"}`` when the sample fails with one of :data:`SAMPLE_ERRORS`.

    Raises
    ------
    EvaluationError
        The sample's result cannot be saved in ``vis_dir``: a fault of the output, not of
        the sample, so the run stops (and ``--resume`` computes the sample again).
    """
    (record,) = evaluate_batch(
        explainer,
        [sample],
        methods,
        category_rule=category_rule,
        rouge_l_package=rouge_l_package,
        vis_dir=vis_dir,
        faithfulness=faithfulness,
    )
    return record


def evaluate_batch(
    explainer: Explainer,
    samples: Sequence[Sample],
    methods: Sequence[str],
    *,
    category_rule: str = "whole-name",
    rouge_l_package: str = "rouge-score",
    vis_dir: Path | None = None,
    faithfulness: FaithfulnessOptions | None = None,
) -> list[dict]:
    """Explain several samples together and score each, as :func:`evaluate_one` does one.

    The samples whose picture and mask could be read are explained in one call when the
    explainer has ``explain_batch`` (one ``generate`` for the batch), else one by one;
    each record is the one :func:`evaluate_one` gives for the sample alone, and a sample
    that fails fails alone.

    Returns
    -------
    list of dict
        One record per sample, in order.

    Raises
    ------
    EvaluationError
        A sample's result cannot be saved in ``vis_dir``.
    """
    masks, outcomes = {}, {}
    for sample in samples:
        try:
            masks[sample.index] = read_mask(sample.mask, load_image(sample.image).size)
        except SAMPLE_ERRORS as error:
            outcomes[sample.index] = error
    ready = [sample for sample in samples if sample.index in masks]
    outcomes.update(zip((sample.index for sample in ready), _explain(explainer, ready), strict=True))
    records = []
    for sample in samples:
        outcome = outcomes[sample.index]
        try:
            if isinstance(outcome, Exception):
                raise outcome
            mask = masks[sample.index]
            record = score_sample(
                sample, outcome, mask, methods, category_rule=category_rule, rouge_l_package=rouge_l_package
            )
            if faithfulness is not None:
                record["faithfulness"] = score_faithfulness(
                    sample,
                    outcome,
                    mask,
                    faithfulness_methods(methods, faithfulness),
                    faithfulness,
                    category_rule=category_rule,
                )
            records.append(record)
        except SAMPLE_ERRORS as error:
            logger.warning("sample %s (%s) failed: %s", sample.index, sample.id, error)
            records.append({"index": sample.index, "id": sample.id, "error": f"{type(error).__name__}: {error}"})
            continue
        if vis_dir is not None:
            target = Path(vis_dir) / fit_name(f"{sample.index:05d}_{sample.id}")  # the index keeps it unique
            try:
                outcome.result.save(target, overwrite=True)
            except OSError as error:
                raise EvaluationError(f"cannot save the maps of sample {sample.index} to {target}: {error}") from None
    return records


def _explain(explainer: Explainer, samples: Sequence[Sample]) -> list:
    """Each sample's Explanation or the error it failed with: in one batch when the explainer can."""
    if not samples:
        return []
    requests = [([str(sample.image)], sample.prompt) for sample in samples]
    if hasattr(explainer, "explain_batch"):
        return explainer.explain_batch(requests)
    outcomes = []
    for paths, prompt in requests:
        try:
            outcomes.append(explainer(paths, prompt))
        except SAMPLE_ERRORS as error:
            outcomes.append(error)
    return outcomes


class _OneProcess:
    process_index = 0
    num_processes = 1
    is_main_process = True

    def wait_for_everyone(self) -> None:
        """Nothing to wait for."""


def run_evaluation(
    explainer: Explainer,
    dataset: Dataset,
    results: str | Path,
    *,
    progress: bool = False,
    batch_size: int = 1,
    **options,
):
    """Evaluate ``dataset`` with ``explainer`` and write results and summary, in one call.

    ``options`` are those of :func:`start_evaluation`; ``progress`` and ``batch_size`` those
    of :meth:`EvaluationRun.evaluate`. Returns what :meth:`EvaluationRun.evaluate` returns:
    the summary (:func:`summarize`) on the main process, None on the others.
    """
    if batch_size < 1:
        raise EvaluationError(f"batch_size must be at least 1, got {batch_size}")
    with start_evaluation(dataset, results, **options) as run:
        return run.evaluate(explainer, progress=progress, batch_size=batch_size)


def start_evaluation(
    dataset: Dataset,
    results: str | Path,
    *,
    methods: Sequence[str] = ABLATIONS,
    limit: int | None = None,
    resume: bool = False,
    retry_failed: bool = False,
    category_rule: str = "whole-name",
    rouge_l_package: str = "rouge-score",
    settings: Mapping | None = None,
    vis_dir: str | Path | None = None,
    state=None,
    faithfulness: FaithfulnessOptions | None = None,
) -> EvaluationRun:
    """Check everything a run needs before a model is loaded, and take the results file.

    The main process takes the lock of the results file (``<results>.lock``, held until
    the run is closed) and of the vis_dir (``<VIS_DIR>.lock``), both by their real paths,
    so a second run on the same file or folder stops here, naming the process
    that holds it. The output folders are made and tried, the results file is read and
    its settings compared.

    Parameters
    ----------
    dataset : Dataset
    results : str or Path
        The JSON lines file; the summary goes to ``<results>.summary.json``.
    methods : sequence of str
        Registered map methods (:mod:`tam.methods`) scored from each generation, and maps
        made from the mask (chance and ceiling) scored beside them.
    limit : int, optional
        Evaluate only the first ``limit`` samples.
    resume : bool
        Continue an existing results file: its samples are not computed again. Without
        it an existing results file is an error.
    retry_failed : bool
        With ``resume``, compute the samples recorded as failed again.
    category_rule : {"whole-name", "reference"}
        How a noun naming several categories picks one (:func:`tam.metrics.match_category`);
        ``"reference"`` reproduces the paper.
    rouge_l_package : {"rouge-score", "rouge"}
        Which package computes ROUGE-L (:func:`tam.metrics.rouge_l`); ``"rouge"`` reproduces the paper.
    settings : mapping, optional
        What made the answers (model, layer, round-0 mode, ...): stored beside the
        results, and a resumed run must give the same.
    vis_dir : str or Path, optional
        Save each sample's :class:`TokenActivationResult` there (``<index>_<id>/``).
    state : accelerate.PartialState, optional
        The process group under ``accelerate launch``; one process when None.
    faithfulness : FaithfulnessOptions, optional
        Also score deletion, insertion and the pointing game of each map method
        (:mod:`tam.evaluation.faithfulness`; ``2 * steps`` forward passes per method and
        scored token), and plot the mean curves beside the summary.

    Returns
    -------
    EvaluationRun
        A context manager; closing it releases the lock.

    Raises
    ------
    EvaluationError
        Bad ``methods``, ``limit`` or ``category_rule``; ``retry_failed`` without
        ``resume``; a results path or ``vis_dir`` that cannot be written; a results file
        in use by another run, or existing without ``resume``, or resumed with other
        settings or from another data set.
    """
    methods = list(methods)
    if not methods or len(set(methods)) != len(methods):
        raise EvaluationError(f"methods must be distinct registered method names, got {methods}")
    for method in methods:
        try:
            get_method(method)
        except UnknownMethodError as error:
            raise EvaluationError(str(error)) from None
    if limit is not None and limit < 1:
        raise EvaluationError(f"limit must be at least 1, got {limit}")
    if category_rule not in CATEGORY_RULES:
        raise EvaluationError(f"category_rule must be one of {CATEGORY_RULES}, got {category_rule!r}")
    if rouge_l_package not in ROUGE_L_PACKAGES:
        raise EvaluationError(f"rouge_l_package must be one of {ROUGE_L_PACKAGES}, got {rouge_l_package!r}")
    if retry_failed and not resume:
        raise EvaluationError("retrying failed samples continues a results file: pass --resume with --retry-failed")
    state = _OneProcess() if state is None else state
    results = Path(results)
    vis_dir = None if vis_dir is None else Path(vis_dir)
    run_settings = {
        "dataset_format": dataset.format,
        "methods": methods,
        "category_rule": category_rule,
        "rouge_l_package": rouge_l_package,
        **dict(settings or {}),
    }
    if faithfulness is not None:
        run_settings["faithfulness"] = asdict(faithfulness)
    locks = []
    if state.is_main_process:
        _check_writable(results, vis_dir)
        locks = _take_locks(results, vis_dir)
    try:
        rows = faithfulness_methods(methods, faithfulness) if faithfulness is not None else ()
        records, recorded = _check_existing(results, dataset, run_settings, resume, rows)
        state.wait_for_everyone()  # everyone has looked at the files before anyone writes
        if state.is_main_process:
            for marker in _finished_markers(results, state.num_processes):
                marker.unlink(missing_ok=True)  # left by a stopped run
            if not settings_path(results).exists():
                write_json_atomic(settings_path(results), run_settings)
        state.wait_for_everyone()
    except BaseException:
        for lock in locks:
            lock.release()
        raise
    done = {index for index, record in records.items() if not (retry_failed and "error" in record)}
    selected = dataset.samples[:limit]
    return EvaluationRun(
        results=results,
        selected=selected,
        pending=[
            sample
            for sample in selected
            if sample.index not in done and sample.index % state.num_processes == state.process_index
        ],
        methods=methods,
        category_rule=category_rule,
        rouge_l_package=rouge_l_package,
        run_settings=run_settings,
        vis_dir=vis_dir,
        state=state,
        locks=locks,
        faithfulness=faithfulness,
        recorded_settings=recorded,
    )


@dataclass
class EvaluationRun:
    """A checked run that holds its results file: :meth:`evaluate` it, then close it (``with``).

    Attributes
    ----------
    pending : list of Sample
        The samples this process computes: not yet in the results file (or failed there,
        with ``retry_failed``), and of its share under several processes.
    """

    results: Path
    selected: Sequence[Sample]
    pending: list[Sample]
    methods: list[str]
    category_rule: str
    rouge_l_package: str
    run_settings: dict
    vis_dir: Path | None
    state: object
    locks: list
    faithfulness: FaithfulnessOptions | None = None
    recorded_settings: dict | None = None

    def __enter__(self) -> EvaluationRun:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Release the results file and the vis_dir for other runs."""
        while self.locks:
            self.locks.pop().release()

    def add_settings(self, extra: Mapping) -> None:
        """Record settings known only once the model has loaded (its generation settings).

        A resumed run must have run with the same values, by its settings file and by the
        settings its records carry: a differing one is an :class:`EvaluationError` naming
        it; a results file written before these settings existed takes them.
        """
        extra = dict(extra)
        if extra and self.state.is_main_process:
            path = settings_path(self.results)
            written = _read_settings(path)
            for earlier in (written, self.recorded_settings or {}):
                _check_same_settings(self.results, earlier, extra, keys=set(extra) & set(earlier))
            write_json_atomic(path, {**written, **extra})
        self.run_settings = {**self.run_settings, **extra}

    def evaluate(self, explainer: Explainer, *, progress: bool = False, batch_size: int = 1) -> dict | None:
        """Compute the pending samples, append their records, and (main process) merge and summarise.

        Parameters
        ----------
        explainer : Explainer
            ``explainer(image_paths, prompt) -> Explanation``.
        progress : bool
            Show a tqdm progress bar per process.
        batch_size : int, default 1
            Samples explained together (one ``generate`` call when the explainer has
            ``explain_batch``), taken in order from this process's own pending samples,
            so a batch never spans two processes' shares; the records are those of
            batch size 1.

        Returns
        -------
        dict or None
            The summary (:func:`summarize`) on the main process, None on the others.
        """
        from tqdm.auto import tqdm

        if batch_size < 1:
            raise EvaluationError(f"batch_size must be at least 1, got {batch_size}")
        state, results = self.state, self.results
        appended = part_path(results, state.process_index, state.num_processes)
        bar = tqdm(  # closed before an error is shown, so the error is the last line
            total=len(self.pending),
            disable=not progress,
            unit="sample",
            desc=f"process {state.process_index}" if state.num_processes > 1 else "evaluating",
            position=state.process_index,
        )
        with bar, open_for_append(appended) as handle:
            for start in range(0, len(self.pending), batch_size):
                batch = self.pending[start : start + batch_size]
                for record in evaluate_batch(
                    explainer,
                    batch,
                    self.methods,
                    category_rule=self.category_rule,
                    rouge_l_package=self.rouge_l_package,
                    vis_dir=self.vis_dir,
                    faithfulness=self.faithfulness,
                ):
                    try:
                        append_record(handle, {**record, "settings": self.run_settings})
                    except OSError as error:  # a full disk or the file-size limit: the file holds whole lines
                        raise EvaluationError(
                            f"cannot append to {appended}: {error.strerror or error}; the records written before "
                            "are kept: make room and rerun with --resume"
                        ) from None
                bar.update(len(batch))

        if not state.is_main_process:
            _finished_markers(results, state.num_processes)[state.process_index - 1].touch()
            return None
        # Wait on files rather than on a collective barrier, whose timeout a long shard can outlast.
        while not all(marker.exists() for marker in _finished_markers(results, state.num_processes)):
            time.sleep(POLL_SECONDS)
        records = merge_parts(results, self.run_settings)
        for marker in _finished_markers(results, state.num_processes):
            marker.unlink()
        rows = faithfulness_methods(self.methods, self.faithfulness) if self.faithfulness is not None else ()
        summary = summarize(
            [records[s.index] for s in self.selected if s.index in records], self.methods, self.run_settings, rows
        )
        write_json_atomic(summary_path(results), summary)
        if self.faithfulness is not None:
            from tam.evaluation.plots import plot_faithfulness_curves

            plot_faithfulness_curves(summary["faithfulness"], curves_path(results))
        return summary


def lock_path(results: Path) -> Path:
    """``results.jsonl.lock``: the lock a run holds, which names its process."""
    return results.with_name(f"{results.name}.lock")


def vis_lock_path(vis_dir: Path) -> Path:
    """``VIS_DIR.lock`` beside the (resolved) folder: the lock a run saving maps there holds."""
    vis_dir = vis_dir.resolve()
    return vis_dir.with_name(f"{vis_dir.name}.lock")


def _lock(lock_file: Path, in_use: str, other: str):
    """Take ``lock_file`` without waiting (:func:`tam.files.take_lock`), or raise :class:`EvaluationError`."""
    try:
        return take_lock(lock_file, in_use, other)
    except InUseError as error:
        raise EvaluationError(str(error)) from None


def _take_locks(results: Path, vis_dir: Path | None) -> list:
    """Lock the results file and the vis_dir by their real paths (a second name for either is the same lock)."""
    locks = [_lock(lock_path(results.resolve()), f"{results} is in use by another run", "--results")]
    try:
        if vis_dir is not None:
            in_use = f"the vis_dir {vis_dir} is in use by another run"
            locks.append(_lock(vis_lock_path(vis_dir), in_use, "vis_dir"))
    except BaseException:
        locks[0].release()
        raise
    return locks


def _refuse_link_or_special(path: Path, what: str) -> None:
    """Raise :class:`EvaluationError` when ``path`` is a symbolic link (dangling too) or exists as no regular file.

    A link would make the run read, write or truncate a file elsewhere than the user named;
    a FIFO or a device would block the run or swallow its lines.
    """
    if path.is_symlink():
        raise EvaluationError(
            f"{what} {path} is a symbolic link (to {str(path.readlink())!r}); tam writes only where you name: "
            "name the real file or folder"
        )
    if path.exists() and not (path.is_file() or path.is_dir()):
        raise EvaluationError(f"{what} {path} is not a regular file (a FIFO, socket or device); name a file")


def _check_writable(results: Path, vis_dir: Path | None) -> None:
    """Make the output folders and try writing in them, so that no sample fails for the output's sake."""
    companions = (
        (results, "--results"),
        (settings_path(results), "the settings file"),
        (summary_path(results), "the summary file"),
        (lock_path(results), "the lock file"),
    )
    parts = ((path, "a part file") for path in results.parent.glob(f"{glob.escape(results.name)}.part*"))
    for path, what in (*companions, *parts):
        _refuse_link_or_special(path, what)
    if vis_dir is not None:
        _refuse_link_or_special(vis_dir, "the vis_dir")
        _refuse_link_or_special(vis_lock_path(vis_dir), "the vis_dir's lock file")
        real, real_results = vis_dir.resolve(), results.resolve()
        beside = real.parent == real_results.parent and re.fullmatch(
            rf"{re.escape(real_results.name)}\.part\d+(\.done)?|{re.escape(real_results.name)}\.curves\.(png|pdf)",
            real.name,
        )
        if real in {path.resolve() for path, _ in companions} or beside:
            raise EvaluationError(
                f"the vis_dir {vis_dir} is the results file {results} or one of the files beside it "
                "(.lock, .settings.json, .summary.json, .part*); name another folder"
            )
    if results.is_dir():
        raise EvaluationError(f"--results {results} is a folder; name a file such as {results / 'results.jsonl'}")
    for folder, what in ((results.parent, "--results"), (vis_dir, "the vis_dir")):
        if folder is None:
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as error:
            raise EvaluationError(f"cannot write {what} in {folder}: {error.strerror or error}") from None


def _finished_markers(results: Path, num_processes: int) -> list[Path]:
    """Files by which processes 1 .. n-1 tell the main process that their part is complete."""
    return [results.with_name(f"{results.name}.part{rank}.done") for rank in range(1, num_processes)]


def _check_existing(
    results: Path, dataset: Dataset, run_settings: dict, resume: bool, faithfulness_rows: Sequence[str]
) -> tuple[dict[int, dict], dict | None]:
    """Read the records to resume and check they were made as this run makes them.

    Returns
    -------
    records : dict of int to dict
        The well-formed records, by index; a malformed one (a summary cannot be made of it)
        is left out with a warning, so its sample is computed again.
    recorded : dict or None
        The settings the records carry (every record carries the settings of its run), None
        when none does (files written before records carried them).
    """
    records = read_records(results)
    written = records or results.exists() or settings_path(results).exists()
    if written and not resume:
        raise EvaluationError(f"{results} already holds results: pass --resume to continue it, or another --results")
    compared = set(run_settings)
    earlier = None
    if settings_path(results).exists():
        # a setting added since the file was written takes the value that the file was made with
        earlier = {**SETTINGS_ADDED_LATER, **_read_settings(settings_path(results))}
        compared |= set(earlier)
        _check_same_settings(results, earlier, run_settings, keys=compared - set(LOADED_SETTINGS))
    recorded = _recorded_settings(results, records)
    if recorded is not None:
        _check_same_settings(results, recorded, run_settings, keys=(compared | set(recorded)) - set(LOADED_SETTINGS))
    elif earlier is None and records:
        raise EvaluationError(
            f"cannot resume {results}: its settings file {settings_path(results).name} is gone and its records do not "
            "say which settings made them; start a new --results"
        )
    for index, record in records.items():
        if index >= len(dataset) or dataset.samples[index].id != record.get("id"):
            raise EvaluationError(f"{results} holds sample {index} ({record.get('id')}), which this data set lacks")
    malformed = [
        index for index, record in records.items() if not _summarizable(record, run_settings, faithfulness_rows)
    ]
    for index in malformed:
        logger.warning("%s: the record of sample %s is damaged; it is computed again", results, index)
        del records[index]
    return records, recorded


def _summarizable(record: dict, run_settings: dict, faithfulness_rows: Sequence[str]) -> bool:
    """Whether :func:`summarize` can read ``record``: its figures are all there, of the right types."""
    if not isinstance(record.get("settings", {}), dict):
        return False
    try:
        summarize([record], run_settings["methods"], {}, faithfulness_rows)
    except (EvaluationError, KeyError, TypeError, ValueError, AttributeError, IndexError):
        return False
    return True


def _recorded_settings(results: Path, records: Mapping[int, dict]) -> dict | None:
    """Return the one ``settings`` dict that the records carry; raise :class:`EvaluationError` if several."""
    found = {}
    for record in records.values():
        if isinstance(record.get("settings"), dict):
            found.setdefault(json.dumps(record["settings"], sort_keys=True), record["settings"])
    if len(found) > 1:
        first, second = list(found.values())[:2]
        differing = sorted(key for key in set(first) | set(second) if first.get(key) != second.get(key))
        raise EvaluationError(
            f"cannot resume {results}: its records were made with different settings ({', '.join(differing)} "
            "differ); start a new --results"
        )
    return next(iter(found.values()), None)


def _read_settings(path: Path) -> dict:
    """Return the settings file's dict; raise :class:`EvaluationError` in one line when it is damaged."""
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as error:
        raise EvaluationError(f"cannot read the settings file {path} ({error}); remove it or restore it") from None
    if not isinstance(settings, dict):
        raise EvaluationError(f"the settings file {path} holds a {type(settings).__name__}, not the run's settings")
    return settings


def summarize(
    records: Sequence[dict],
    methods: Sequence[str],
    settings: Mapping | None = None,
    faithfulness_methods: Sequence[str] = (),
) -> dict:
    """Pool the records of a run into the data set's figures (spec section 8).

    Parameters
    ----------
    records : sequence of dict
        Results lines, in sample order.
    methods : sequence of str
    settings : mapping, optional
        Copied into the summary.
    faithfulness_methods : sequence of str
        Rows of the faithfulness figures, when the records hold them.

    Returns
    -------
    dict
        ``{"methods": {method: {"obj_iou", "func_iou", "f1_iou", "precision", "recall",
        "objects", "function_words"}}, "exact", "rouge_l", "meteor", "n", "failed",
        "failures", "settings"}``: figures pooled over every scored word of every sample;
        the share of exact answers, ROUGE-L and METEOR averaged over the samples with
        references; ``n`` counts the scored samples, ``failed`` the others. A figure
        with nothing to pool is None. With ``faithfulness_methods``, ``"faithfulness"``
        too: per method, :func:`~tam.evaluation.faithfulness.summarize_faithfulness`.
    """
    pooled = {method: PooledIoU() for method in methods}
    exact, rouge, meteor = MeanAccumulator(), MeanAccumulator(), MeanAccumulator()
    failures = []
    for record in records:
        if "error" in record:
            failures.append({"id": record["id"], "error": record["error"]})
            continue
        for method in methods:
            if method not in record["methods"]:
                raise EvaluationError(f"sample {record['id']} has no scores for method {method!r}")
            pooled[method].update(AnswerScores.from_dict(record["methods"][method]))
        exact.update(record.get("exact"))  # absent from results files written before it was scored
        rouge.update(record["rouge_l"])
        meteor.update(record["meteor"])
    summary = {
        "methods": {method: accumulator.summary() for method, accumulator in pooled.items()},
        "exact": exact.summary()["mean"],
        "rouge_l": rouge.summary()["mean"],
        "meteor": meteor.summary()["mean"],
        "n": len(records) - len(failures),
        "failed": len(failures),
        "failures": failures,
        "settings": dict(settings or {}),
    }
    if faithfulness_methods:
        summary["faithfulness"] = summarize_faithfulness(records, faithfulness_methods)
    return summary


def _empty_cell_notes(summary: Mapping) -> list[str]:
    """Say why cells of the table are ``-``: nothing of their kind was scored."""
    rows = list(summary["methods"].values())
    notes = []
    if any(row["objects"] == 0 for row in rows):
        notes.append(
            "-: no answer noun matched a category of the masks (objects 0): no Obj-IoU, F1-IoU, Precision, Recall"
        )
    if any(row["function_words"] == 0 for row in rows):
        notes.append("-: the answers held no function word (function words 0): no Func-IoU, F1-IoU")
    if summary["rouge_l"] is None:
        notes.append("-: no scored sample has reference answers: no ROUGE-L, METEOR")
    return notes


def format_table(summary: Mapping) -> str:
    """Lay out the summary as the text table that ``eval.py`` prints.

    With faithfulness figures, columns follow for the insertion AUC (higher is better),
    the deletion AUC (lower is better), the pointing game's accuracy and the count of
    scored tokens; a row holding only one kind of figure shows ``-`` in the other's.

    >>> row = {"obj_iou": 0.2737, "func_iou": 0.6844, "f1_iou": 0.391, "precision": 0.3, "recall": None,
    ...        "objects": 12, "function_words": 30}
    >>> summary = {"methods": {"tam": row}, "exact": 0.125, "rouge_l": 0.31, "meteor": None, "n": 9, "failed": 1}
    >>> print(format_table(summary))
    method  Obj-IoU  Func-IoU  F1-IoU  Precision  Recall  objects  function words
    tam      0.2737    0.6844  0.3910     0.3000       -       12              30
    exact answers 12.5%  ROUGE-L 0.3100  METEOR -  samples 9  failed 1

    The rows that no model made (``--baselines``: chance maps, the grid's ceiling, the
    random pixel order) come last, under a line of their own; a note under the table says
    why a cell of the model's figures is ``-``.
    """

    def number(value) -> str:
        return "-" if value is None else f"{value:.4f}"

    plausibility_keys = ("obj_iou", "func_iou", "f1_iou", "precision", "recall")
    faithfulness_keys = ("insertion_auc", "deletion_auc", "pointing")
    faithfulness = summary.get("faithfulness") or {}
    header = ("method", "Obj-IoU", "Func-IoU", "F1-IoU", "Precision", "Recall", "objects", "function words")
    if faithfulness:
        header += ("Ins-AUC", "Del-AUC", "Pointing", "tokens")
    rows = [header]
    for method in [*summary["methods"], *(name for name in faithfulness if name not in summary["methods"])]:
        figures = summary["methods"].get(method)
        row = (method,)
        if figures is None:
            row += ("-",) * 7
        else:
            row += (*(number(figures[key]) for key in plausibility_keys), str(figures["objects"]))
            row += (str(figures["function_words"]),)
        if faithfulness:
            scored = faithfulness.get(method)
            if scored is None:
                row += ("-",) * 4
            else:
                row += (*(number(scored[key]) for key in faithfulness_keys), str(scored["tokens"]))
        rows.append(row)
    baselines = {*method_names(MaskMethod), RANDOM_ORDER}  # maps, or a pixel order, that no model made
    rows[1:] = sorted(rows[1:], key=lambda row: row[0] in baselines)  # the model's rows first, in their order
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    first_baseline = next((index for index, row in enumerate(rows) if row[0] in baselines), None)
    if first_baseline is not None:
        lines.insert(first_baseline, "not made by the model: chance and the grid's ceiling (--baselines):")
    exact = summary.get("exact")
    lines.append(
        f"exact answers {'-' if exact is None else f'{exact:.1%}'}  "
        f"ROUGE-L {number(summary['rouge_l'])}  METEOR {number(summary['meteor'])}  "
        f"samples {summary['n']}  failed {summary['failed']}"
    )
    lines.extend(_empty_cell_notes(summary))
    return "\n".join(lines)


def _check_same_settings(results: Path, earlier: Mapping, current: Mapping, *, keys) -> None:
    """Raise :class:`EvaluationError` naming each of ``keys`` whose value differs between the two runs."""
    differing = sorted(key for key in keys if earlier.get(key) != current.get(key))
    if differing:
        changes = ", ".join(f"{key}: {earlier.get(key)!r} then {current.get(key)!r}" for key in differing)
        raise EvaluationError(f"cannot resume {results} with other settings ({changes})")
