"""The paper's evaluation over a data set (spec section 8): ``eval.py`` is a thin front to it.

- :mod:`tam.evaluation.datasets`: COCO14, GranDf and OpenPSG folders read into samples;
- :mod:`tam.evaluation.scoring`: one explained answer scored into one JSON-ready record;
- :mod:`tam.evaluation.results`: the JSON lines file, safe against kills, with part files;
- :mod:`tam.evaluation.runner`: the run (resume, processes, summary, table);
- :mod:`tam.evaluation.models`: :func:`load_explainer`, where a model plugs in;
- :mod:`tam.evaluation.cli`: the command line of ``eval.py``.
"""

from tam.evaluation.datasets import FORMATS, PROMPTS, Dataset, DatasetError, Sample, detect_format, load_dataset
from tam.evaluation.models import ModelLoadError, load_explainer
from tam.evaluation.runner import (
    EvaluationError,
    EvaluationRun,
    format_table,
    run_evaluation,
    start_evaluation,
    summarize,
    summary_path,
)
from tam.evaluation.scoring import Explainer, Explanation, SampleError, answer_token_maps, score_sample

__all__ = [
    "FORMATS",
    "PROMPTS",
    "Dataset",
    "DatasetError",
    "EvaluationError",
    "EvaluationRun",
    "Explainer",
    "Explanation",
    "ModelLoadError",
    "Sample",
    "SampleError",
    "answer_token_maps",
    "detect_format",
    "format_table",
    "load_dataset",
    "load_explainer",
    "run_evaluation",
    "score_sample",
    "start_evaluation",
    "summarize",
    "summary_path",
]
