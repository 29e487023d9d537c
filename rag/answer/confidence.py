"""How sure an extractive answer is: a calibrated probability that it is right, and whether to
hedge it.

The reader's score says how well a sentence answers the question as the reader was trained to
see it; it is near 1 for most answers given, right or wrong (an on-topic question the article
does not answer gets a sentence on the same subject). A few signals tell more together: the
score, its margin over the best other sentence, whether the quoted passages hold the question's
names and its words. A logistic model over them, fitted on the news suite's answers by
`eval/reader/calibrate_confidence.py` (rag/weights/confidence.json, checked by hash), gives the
probability that the answer is right; under its threshold the answer is shown hedged ("The
articles may not answer this directly; the closest sentence says: ..."). The model was fitted
for one reader's scores (the evidence reader's, the default): with another, answers carry no
confidence and are never hedged.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ModelError
from rag.models.logistic import LogisticModel
from rag.models.weights import REINSTALL, verified, weight_path
from rag.text.names import question_names, spellings
from rag.text.words import fold, reader_stems

CONFIDENCE_FILE = weight_path("confidence.json")
FEATURES = ("score", "gap", "names_held", "words_held")
CLIP = 3.0  # standard deviations


@dataclass(frozen=True)
class Calibration:
    """The confidence model, the reader whose scores it reads, and the set it was fitted on."""

    model: LogisticModel  # its threshold: the probability under which an answer is hedged
    reader: str
    fitted_on: str

    def confidence(self, values: dict[str, float]) -> float:
        """The probability that the answer is right. Each signal counts at most 3 standard
        deviations from the answers it was fitted on: an answer the reader's rule accepted by
        its form ("Brad Smith, président de Microsoft" for "Who is Brad Smith?", at the
        reader's bar of 0 where fitted answers score 0.97 +- 0.04) is unlike them, and a
        linear model would carry that far beyond what it learnt."""
        m = self.model
        z = m.bias + sum(
            w * max(-CLIP, min(CLIP, (values[name] - mean) / scale))
            for name, mean, scale, w in zip(m.features, m.mean, m.scale, m.weights, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-z))


def confidence_features(
    question: str, best: float, runner_up: float | None, quotes: Sequence[str], passages: Sequence[tuple[str, str]]
) -> dict[str, float]:
    """The signals of one answer: the reader's score of its best unit (`best`), the margin over
    the best unit that shares no sentence with the answer (`runner_up`, None when there is
    none), the share of the question's names that the cited passages or their titles hold (in
    any of their spellings; 1 when it names nothing), and the share of its content words that
    the quotes and their titles hold."""
    names = question_names(question)
    cited = fold(" ".join(f"{title} {text}" for title, text in passages))
    held = sum(any(fold(spelling) in cited for spelling in spellings(name)) for name in names)
    asked = set(reader_stems(question))
    said = set(reader_stems(" ".join([*quotes, *(title for title, _ in passages)])))
    return {
        "score": best,
        "gap": best - (runner_up if runner_up is not None else -1.0),
        "names_held": held / len(names) if names else 1.0,
        "words_held": len(asked & said) / len(asked) if asked else 1.0,
    }


@functools.cache
def load_calibration(file: Path = CONFIDENCE_FILE) -> Calibration | None:
    """The shipped confidence model (None when the file is absent: answers carry no confidence)."""
    if not file.is_file():
        return None
    try:
        data = json.loads(verified(file).read_text(encoding="utf-8"))
        model = LogisticModel.from_json(data["model"])
        if tuple(model.features) != FEATURES:
            raise ValueError(f"features {model.features}, expected {FEATURES}")
        return Calibration(model, str(data["reader"]), str(data.get("fitted_on", "")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"The confidence model {file} cannot be read ({exc}): {REINSTALL}") from exc
