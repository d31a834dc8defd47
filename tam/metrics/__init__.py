"""The paper's evaluation metrics (spec section 8), as pure functions and accumulators.

- :mod:`tam.words` (shared with the result): which answer tokens make up each word;
- :mod:`tam.metrics.language`: POS kinds and WordNet category matching (NLTK, offline data);
- :mod:`tam.metrics.overlap`: Otsu thresholds and map-versus-mask overlaps;
- :mod:`tam.metrics.scoring`: Obj-IoU, Func-IoU and F1-IoU of one answer, pooled over a data set;
- :mod:`tam.metrics.text`: ROUGE-L and METEOR of an answer against its references;
- :mod:`tam.metrics.faithfulness`: deletion and insertion curves, their AUC and the pointing
  game (the pure part; the model turns pictures into probabilities in
  :mod:`tam.evaluation.faithfulness`).

Chance maps and the best maps a grid can hold, scored beside a method's, are map methods
made from the mask: :mod:`tam.methods.chance` and :mod:`tam.methods.perfect`.

NLTK, OpenCV, rouge-score and rouge are imported only when a function needs them.
"""

from tam.metrics.language import (
    CATEGORY_RULES,
    FUNCTION_TAGS,
    NLTK_DOWNLOAD_COMMAND,
    NOUN_TAGS,
    MissingNLTKDataError,
    lemma,
    match_category,
    pos_tag,
    require_nltk_data,
    word_kind,
)
from tam.metrics.overlap import (
    background_fraction,
    best_token_overlap,
    otsu_threshold,
    overlap,
    resize_map,
    word_threshold,
)
from tam.metrics.scoring import (
    AnswerScores,
    FunctionScore,
    MeanAccumulator,
    ObjectScore,
    PooledIoU,
    f1_iou,
    score_answer,
)
from tam.metrics.text import ROUGE_L_PACKAGES, meteor, rouge_l
from tam.words import Word, group_words, is_punctuation, starts_word

__all__ = [
    "CATEGORY_RULES",
    "FUNCTION_TAGS",
    "NLTK_DOWNLOAD_COMMAND",
    "NOUN_TAGS",
    "AnswerScores",
    "FunctionScore",
    "MeanAccumulator",
    "MissingNLTKDataError",
    "ObjectScore",
    "PooledIoU",
    "ROUGE_L_PACKAGES",
    "Word",
    "background_fraction",
    "best_token_overlap",
    "f1_iou",
    "group_words",
    "is_punctuation",
    "lemma",
    "match_category",
    "meteor",
    "otsu_threshold",
    "overlap",
    "pos_tag",
    "require_nltk_data",
    "resize_map",
    "rouge_l",
    "score_answer",
    "starts_word",
    "word_kind",
    "word_threshold",
]
