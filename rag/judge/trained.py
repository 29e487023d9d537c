"""The trained judge: it reads each sentence of an answer with the passage sentences closest to
it and gives the probability that the passages support it.

The model is the bundled multilingual-e5-small cut to its first six layers, with mean pooling
and a linear head, fine-tuned as a cross-encoder on human-labelled LLM answers (RAGTruth's
training answers, sentence by sentence), HaluEval, French NLI pairs and hallucinations made from
faithful text (`python -m eval.judge.train_reader`, 37 minutes for one epoch on 2 cores). No
weights ship: after one epoch it ranked RAGTruth answers worse than the embedded judge (README
"The judge"). RAG_JUDGE=cross-encoder with RAG_JUDGE_DIR pointing at a trained folder uses it;
its weights (fp16, about 21 MB) are checked against the sha256 in judge.json before they load.

A claim is read as `question: ... claim: ...` against `passages: ...`, where the passages are
the sentences of the given passages most similar to the claim (e5 cosine), in their order, up to
the model's window; short passages are read whole. An answer is as supported as its least
supported sentence; the unsupported sentences are the verdict's spans.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import ModelError
from rag.judge.embedded import (
    BARE_POLAR,
    NUMBER,
    JudgeCase,
    Verdict,
    offsets_in_original,
    passage_sentences,
    strip_citations,
)
from rag.models.embedder import Embedder
from rag.models.weights import file_sha256
from rag.read.adapter import share_token_embeddings
from rag.text.sentences import split_sentences
from rag.text.words import fold, judge_names

WEIGHTS_FILE = "judge.safetensors"
CONFIG_FILE = "judge.json"
LAYERS = 6
MAX_LENGTH = 256  # tokens for question + claim + passages
QUESTION_TOKENS = 48  # a longer question is cut to this many tokens
RETRAIN = (
    "train one from a checkout (python -m eval.judge.train_reader --out DIR) and point RAG_JUDGE_DIR at DIR, "
    "or judge with RAG_JUDGE=embedded (the default)"
)


@dataclass(frozen=True)
class JudgeConfig:
    """What judge.json holds: the weights' hash, the calibrated threshold, the window."""

    sha256: str
    threshold: float
    layers: int = LAYERS
    max_length: int = MAX_LENGTH

    @classmethod
    def read(cls, folder: Path) -> JudgeConfig:
        if not (folder / CONFIG_FILE).exists():
            raise ModelError(f"No trained judge in {folder}: {RETRAIN}")
        try:
            data = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
            return cls(str(data["sha256"]), float(data["threshold"]), int(data["layers"]), int(data["max_length"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"The judge's settings {folder / CONFIG_FILE} cannot be read ({exc}): {RETRAIN}") from exc


@dataclass(frozen=True)
class Claim:
    """One sentence of an answer: its text as judged and where it is in the answer as given."""

    case: int
    text: str
    span: tuple[int, int]


def claims_of(cases: Sequence[JudgeCase]) -> list[Claim]:
    """The sentences of every answer that say something (a bare "yes"/"no" is judged as the
    statement its question makes; a fragment without letters, such as a list number, is not a claim)."""
    claims = []
    for i, case in enumerate(cases):
        answer = strip_citations(case.answer)
        where = offsets_in_original(case.answer or "")
        for sentence in split_sentences(answer, min_chars=1):
            text = sentence.text.strip()
            if not any(ch.isalpha() for ch in text):
                continue
            if BARE_POLAR.match(text) and case.question.strip():
                text = f"{case.question.strip()} {text}"
            claims.append(Claim(i, text, (where[sentence.start], where[sentence.end - 1] + 1)))
    return claims


def pair_text(question: str, claim: str, evidence: str) -> tuple[str, str]:
    """The two texts the model reads for one claim (training and judging alike)."""
    return f"question: {question} claim: {claim}", f"passages: {evidence}"


class EvidencePicker:
    """Chooses, for each claim, the passage sentences the model reads: all of them when they fit
    in the window, else the ones most similar to the claim (e5 cosine), kept in their order."""

    def __init__(self, embedder: Embedder, tokenizer: Any, max_length: int = MAX_LENGTH) -> None:
        self.embedder = embedder
        self.tokenizer = tokenizer
        self.max_length = max_length

    def tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        return [len(ids) for ids in self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    def cut_question(self, question: str) -> str:
        ids = self.tokenizer(question, add_special_tokens=False)["input_ids"]
        return question if len(ids) <= QUESTION_TOKENS else self.tokenizer.decode(ids[:QUESTION_TOKENS])

    def pick(self, questions: Sequence[str], claims: Sequence[str], contexts: Sequence[Sequence[str]]) -> list[str]:
        """The evidence text for each (question, claim, passages) triple."""
        import numpy as np

        sentences = [passage_sentences(c) for c in contexts]
        lengths = {s: n for s, n in zip(*_unique_with(self.tokens, [s for ss in sentences for s in ss]), strict=True)}
        heads = self.tokens([f"{pair_text(q, c, '')[0]} passages:" for q, c in zip(questions, claims, strict=True)])
        budgets = [self.max_length - 4 - head for head in heads]
        need = [i for i, ss in enumerate(sentences) if sum(lengths[s] for s in ss) > budgets[i]]
        needed = set(need)
        texts = sorted({t for i in need for t in (claims[i], *sentences[i])})
        vectors: dict[str, Any] = {}
        if texts:
            matrix = np.asarray(self.embedder.embed_passages(texts), dtype=np.float32)
            matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-9)
            vectors = dict(zip(texts, matrix, strict=True))
        out = []
        for i, ss in enumerate(sentences):
            if i not in needed:
                out.append(" ".join(ss))
                continue
            similarity = [float(vectors[s] @ vectors[claims[i]]) for s in ss]
            chosen: list[int] = []
            used = 0
            for j in sorted(range(len(ss)), key=lambda j: -similarity[j]):
                if used + lengths[ss[j]] + 2 <= budgets[i] or not chosen:  # 2: the " … " between
                    chosen.append(j)
                    used += lengths[ss[j]] + 2
            out.append(" … ".join(ss[j] for j in sorted(chosen)))
        return out


def _unique_with(function: Any, items: Sequence[str]) -> tuple[list[str], list[Any]]:
    unique = list(dict.fromkeys(items))
    return unique, function(unique)


class TrainedJudge:
    """The trained cross-encoder judge (RAG_JUDGE=cross-encoder); see the module docstring."""

    name = "cross-encoder"

    def __init__(self, embedder: Embedder, base_dir: Path, folder: Path, batch_size: int = 16) -> None:
        self.config, self.model = load_model(base_dir, folder)
        share_token_embeddings(self.model, embedder)
        self.picker = EvidencePicker(embedder, self.model.tokenizer, self.config.max_length)
        self.batch_size = batch_size

    def thresholds(self) -> dict[str, float]:
        return {"threshold": self.config.threshold}

    def judge(self, question: str, contexts: Sequence[str], answer: str) -> Verdict:
        return self.judge_many([JudgeCase(question, tuple(contexts), answer)])[0]

    def claim_scores(self, cases: Sequence[JudgeCase]) -> tuple[list[Claim], list[float]]:
        """Every claim of every case and the probability that its passages support it."""
        claims = claims_of(cases)
        questions = [self.picker.cut_question(cases[c.case].question) for c in claims]
        evidence = self.picker.pick(questions, [c.text for c in claims], [cases[c.case].contexts for c in claims])
        pairs = [pair_text(q, c.text, e) for q, c, e in zip(questions, claims, evidence, strict=True)]
        return claims, self.scores(pairs)

    def scores(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """The model's probabilities for (claim, passages) pairs, read shortest first (less padding)."""
        from rag.read.cross_encoder import predict

        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
        ranked = predict(self.model, [pairs[i] for i in order], self.batch_size) if pairs else []
        out = [0.0] * len(pairs)
        for position, score in zip(order, ranked, strict=True):
            out[position] = score
        return out

    def judge_sentence(self, question: str, contexts: Sequence[str], sentence: str) -> Verdict:
        return self.judge(question, contexts, sentence)  # its one threshold holds for answers and sentences alike

    def judge_many(self, cases: Sequence[JudgeCase]) -> list[Verdict]:
        claims, scores = self.claim_scores(cases)
        by_case: dict[int, list[tuple[Claim, float]]] = {}
        for claim, score in zip(claims, scores, strict=True):
            by_case.setdefault(claim.case, []).append((claim, score))
        verdicts = []
        threshold = self.config.threshold
        for i, case in enumerate(cases):
            scored = by_case.get(i, [])
            if not scored:
                empty = not strip_citations(case.answer)
                verdicts.append(Verdict(0.0 if empty else 1.0, not empty, ("the answer is empty",) if empty else ()))
                continue
            if not any(c.strip() for c in case.contexts):
                verdicts.append(Verdict(0.0, False, ("no passage was given",)))
                continue
            weakest, score = min(scored, key=lambda pair: pair[1])
            unsupported = [(c, s) for c, s in scored if s < threshold]
            reasons = tuple(_reason(c.text, s, case.contexts) for c, s in unsupported)
            verdicts.append(
                Verdict(
                    score,
                    not unsupported,
                    reasons,
                    tuple((c.text, round(s, 4)) for c, s in scored),
                    tuple(c.span for c, _ in unsupported),
                )
            )
        return verdicts


def _reason(claim: str, score: float, contexts: Sequence[str]) -> str:
    """Why a sentence is unsupported, for the chat's ⚠ and the report: the sentence, and the
    names and numbers in it that no passage has (when there are)."""
    passages = " ".join(contexts)
    folded = fold(passages)
    prefixes = {fold(w)[:6] for w in re.findall(r"[\w'’-]+", passages)}
    names = [v for k, v in judge_names(claim).items() if k not in prefixes and k not in folded]
    numbers = sorted({n for n in NUMBER.findall(claim) if n not in passages})
    missing = [f"names not in the passages: {', '.join(names[:5])}"] if names else []
    missing += [f"numbers not in the passages: {', '.join(numbers[:5])}"] if numbers else []
    return f"not supported by the passages (support {score:.2f}): «{claim[:200]}»" + "".join(f"; {m}" for m in missing)


def checked_config(folder: Path) -> JudgeConfig:
    """The trained judge's settings, once its weights are there and match their hash."""
    config = JudgeConfig.read(folder)
    weights = folder / WEIGHTS_FILE
    if not weights.exists() or file_sha256(weights) != config.sha256:
        raise ModelError(f"The judge's weights {weights} are missing or do not match their hash: {RETRAIN}")
    return config


@functools.lru_cache(maxsize=2)
def load_model(base_dir: Path, folder: Path) -> tuple[JudgeConfig, Any]:
    """The judge's settings and model, loaded once per process (the guards of every answerer and
    `rag eval` share it)."""
    config = checked_config(folder)
    from safetensors.torch import load_file

    from rag.read.cross_encoder import build_cross_encoder

    model = build_cross_encoder(base_dir, config.layers, config.max_length)
    state = {name: tensor.float() for name, tensor in load_file(str(folder / WEIGHTS_FILE)).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [n for n in missing if ".embeddings." not in n and ".pooler." not in n]:
        raise ModelError(f"The judge's weights {folder / WEIGHTS_FILE} do not fit the model: {RETRAIN}")
    model.eval()
    return config, model
