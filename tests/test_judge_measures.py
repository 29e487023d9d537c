"""The judge measured as hallucination detection is (rag/evaluate/judging.py): per language, on
unsupported characters, and the RAGTruth files it is measured on (eval/judge/build_ragtruth.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from eval.judge import build_ragtruth
from rag.evaluate.judging import judge_file, read_labelled
from rag.judge.embedded import JudgeCase, Verdict

HERE = Path(__file__).resolve().parent.parent / "eval" / "judge"
EN = "The company invested thirteen billion dollars in the laboratory last year, according to the report."
FR = "La société a investi treize milliards de dollars dans le laboratoire l'an dernier, selon le rapport."


class FakeJudge:
    """Verdicts given in advance, by answer."""

    name = "fake"

    def __init__(self, verdicts: dict[str, Verdict]) -> None:
        self.verdicts = verdicts

    def judge_many(self, cases: Sequence[JudgeCase]) -> list[Verdict]:
        return [self.verdicts[case.answer] for case in cases]

    def thresholds(self) -> dict[str, float]:
        return {"threshold": 0.5}


def write(path: Path, lines: list[dict]) -> Path:
    rows = [{"question": "q?", "contexts": ["passage"], **line} for line in lines]
    path.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n", encoding="utf-8")
    return path


def test_figures_per_language_given_or_detected(tmp_path):
    path = write(
        tmp_path / "cases.jsonl",
        [
            {"answer": EN, "label": 1},
            {"answer": EN + " ", "label": 0},
            {"answer": FR, "label": 1},
            {"answer": FR + " ", "label": 0},
            {"answer": "Delhi", "label": 1, "language": "hi"},
        ],
    )
    judge = FakeJudge(
        {
            EN: Verdict(0.9, True),
            EN + " ": Verdict(0.2, False),  # caught
            FR: Verdict(0.3, False),  # a faithful French answer refused
            FR + " ": Verdict(0.4, False),
            "Delhi": Verdict(0.8, True),
        }
    )
    _, summary = judge_file(path, judge)
    assert summary["unsupported_precision"] == pytest.approx(2 / 3) and summary["unsupported_recall"] == 1.0
    assert summary["accept_rate"] == pytest.approx(2 / 3)
    assert summary["supported_cases"] == 3 and summary["unsupported_cases"] == 2
    languages = summary["by_language"]
    assert list(languages) == ["en", "fr", "hi"]
    assert languages["en"]["cases"] == 2 and languages["en"]["accept_rate"] == 1.0
    assert languages["en"]["unsupported_f1"] == 1.0 and languages["en"]["auroc"] == 1.0
    assert languages["fr"]["accept_rate"] == 0.0 and languages["fr"]["balanced_accuracy"] == 0.5
    assert languages["hi"]["cases"] == 1
    assert "unsupported_char_f1" not in summary  # no line gives spans


def test_character_figures_need_spans_on_both_sides(tmp_path):
    answer = "Supported part. Invented part."
    path = write(
        tmp_path / "cases.jsonl",
        [
            {"answer": answer, "label": 0, "spans": [[16, 30]]},
            {"answer": "All fine here.", "label": 1, "spans": []},
            {"answer": "No spans given.", "label": 1},
        ],
    )
    verdicts = {
        answer: Verdict(0.1, False, spans=((10, 30),)),  # 14 of its 20 characters are marked by people
        "All fine here.": Verdict(0.9, True),
        "No spans given.": Verdict(0.2, False, spans=((0, 15),)),  # not counted: the line gives no spans
    }
    _, summary = judge_file(path, FakeJudge(verdicts))
    assert summary["span_cases"] == 2
    assert summary["unsupported_char_precision"] == pytest.approx(14 / 20)
    assert summary["unsupported_char_recall"] == 1.0
    no_spans = {k: Verdict(v.score, v.supported) for k, v in verdicts.items()}
    assert "span_cases" not in judge_file(path, FakeJudge(no_spans))[1]  # a judge that marks none


def test_limit_keeps_languages_and_spans_in_step_and_bad_spans_are_skipped(tmp_path):
    path = write(
        tmp_path / "cases.jsonl",
        [
            {"answer": "a", "label": 1, "spans": [], "language": "en"},
            {"answer": "b", "label": 0, "spans": [[0, 1]], "language": "fr"},
            {"answer": "c", "label": 0, "spans": [[0]], "language": "fr"},
        ],
    )
    data = read_labelled(path)
    assert data.languages == ["en", "fr"] and data.spans == [(), ((0, 1),)]
    assert len(data.skipped) == 1 and "spans must be" in data.skipped[0]
    verdicts = {"a": Verdict(0.9, True), "b": Verdict(0.1, False, spans=((0, 1),))}
    _, summary = judge_file(path, FakeJudge(verdicts), limit=1)
    assert summary["cases"] == 1 and list(summary["by_language"]) == ["en"]


def ragtruth_rows() -> list[dict]:
    rows = []
    for source in range(20):
        for model in ("gpt-4-0613", "llama-2-7b-chat"):
            hallucinated = (source + len(model)) % 3 == 0
            answer = f"Answer about source {source} by {model}."
            spans = [{"start": 7, "end": 12, "text": answer[7:12], "label_type": "Evident Conflict"}]
            rows.append(
                {
                    "id": f"{source}-{model}",
                    "source_id": str(100 + source),
                    "model": model,
                    "question": f"question {source}",
                    "passages": [f"passage {source} a", f"passage {source} b"],
                    "answer": answer,
                    "hallucinated": hallucinated,
                    "spans": spans if hallucinated else [],
                }
            )
    return rows


def test_ragtruth_is_split_by_source_with_labels_and_spans_carried(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    rows = ragtruth_rows()
    (shared / "qa-train.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    summary = {**rows[0], "question": "Summarize the following news.", "passages": ["news"]}
    (shared / "summary-train.jsonl").write_text(json.dumps(summary) + "\n")
    counts = build_ragtruth.main(shared, tmp_path)
    train = [json.loads(x) for x in (tmp_path / "ragtruth_qa_train.jsonl").read_text().splitlines()]
    dev = [json.loads(x) for x in (tmp_path / "ragtruth_qa_dev.jsonl").read_text().splitlines()]
    assert len(train) + len(dev) == len(rows) and counts["ragtruth_qa_train"]["sources"] == 14
    assert not {x["source_id"] for x in train} & {x["source_id"] for x in dev}
    by_id = {r["id"]: r for r in rows}
    for line in train + dev:
        row = by_id[line["id"]]
        assert line["label"] == (0 if row["hallucinated"] else 1)
        assert line["spans"] == [[s["start"], s["end"]] for s in row["spans"]]
        assert line["contexts"] == row["passages"] and line["language"] == "en" and line["model"] == row["model"]
    assert build_ragtruth.split_sources(rows) == build_ragtruth.split_sources(list(reversed(rows)))  # fixed
    assert read_labelled(tmp_path / "ragtruth_qa_dev.jsonl").spans[0] is not None  # `rag eval judge` reads them


@pytest.mark.parametrize("stem", ["ragtruth_qa", "ragtruth_summary"])
def test_the_shipped_ragtruth_files_share_no_source(stem):
    sides = [
        [json.loads(x) for x in (HERE / f"{stem}_{side}.jsonl").read_text(encoding="utf-8").splitlines()]
        for side in ("train", "dev")
    ]
    assert not {x["source_id"] for x in sides[0]} & {x["source_id"] for x in sides[1]}
    for line in sides[0] + sides[1]:
        assert (line["label"] == 0) == bool(line["spans"])
        assert all(0 <= start < end <= len(line["answer"]) for start, end in line["spans"])
