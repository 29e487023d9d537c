"""Readers: they score each candidate sentence of the retrieved passages for a question, and the
extractive answerer quotes the best (rag/answer/extractive.py). Picked by name (RAG_READER):

- "evidence" (the default): a logistic regression (rag/read/features.py, weights in evidence.json)
  over the cosine of e5 with a LoRA adapter trained to put a question near its answer sentence
  (reader_adapter/), word and name overlap and the kind of answer asked for; it answers only
  when a second adapter, the decider (decider_adapter/, trained with on-topic unanswerable
  questions), puts one of the five most probable candidates close enough to the question: its
  bar is calibrated on news questions. The reader adapter's sentence vectors are embedded at
  ingest and kept beside the index (rag/index/sentence_vectors.py), so a question embeds only itself
  and those five candidates. Faster than the cosine reader and right more often on every suite;
  with the decider it abstains more often on unanswerable news questions, and refuses more of
  PIAF's encyclopaedic ones (README "The reader").
- "cosine": the retrieval model's similarity of question and sentence (any embedding model).
- "cross-encoder": reads the question and the sentence together and gives the probability that
  the sentence answers. It is the first six layers of the bundled multilingual-e5-small,
  fine-tuned for answer-sentence selection by eval/reader/train.py, with a mean-pooling head.
  Only the trained weights are saved (fp16 safetensors, about 21 MB, checked against the sha256
  in `reader.json` at load time); they load on top of the bundled base model, whose embeddings
  were frozen during training. Trained on 2 cores it measured worse than the cosine on the news
  suite (README "The reader"), so no weights ship; RAG_READER_DIR points at a trained one. A
  candidate is read with its context: its document's title and the sentence before it, which
  often carries the subject the sentence itself leaves out.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rag.errors import ModelError, SettingsError
from rag.models.bundled import model_environment
from rag.models.weights import file_sha256, weight_path

if TYPE_CHECKING:
    from rag.models.embedder import Embedder
    from rag.models.logistic import LogisticModel
    from rag.read.features import Unit
    from rag.settings import Settings

WEIGHTS_FILE = "reader.safetensors"
CONFIG_FILE = "reader.json"
LAYERS = 6  # of the base model's 12: twice as fast
MAX_LENGTH = 128  # tokens for question + candidate + context


@dataclass(frozen=True)
class ReaderInput:
    """A candidate sentence and the context it is read with."""

    sentence: str
    title: str = ""
    before: str = ""  # the sentence before it in its passage, if any
    parts: tuple[str, ...] = ()  # for two adjacent sentences read as one: the two
    doc_id: str = ""  # the document it comes from, if known (its vectors are kept under it)

    @property
    def pieces(self) -> tuple[str, ...]:
        """The sentences it is made of: its parts, or the sentence itself."""
        return self.parts or (self.sentence,)

    def unit(self, cosine: dict[str, float], cross_lingual: bool) -> Unit:
        """What the evidence features read of it, given each sentence's cosine to the question:
        a pair is as close as the closer of its sentences (nothing more to embed)."""
        from rag.read.features import Unit

        closest = max(cosine[piece] for piece in self.pieces)
        return Unit(
            self.sentence, f"{self.title} {self.before}", closest, cross_lingual, not self.before, len(self.parts) > 1
        )

    def text(self) -> str:
        """The reader's second segment: the sentence first, so truncation cuts the context."""
        context = " ".join(part for part in (self.title.strip(), self.before.strip()) if part)
        return f"{self.sentence} | {context}" if context else self.sentence


@dataclass(frozen=True)
class ReaderConfig:
    """What `reader.json` holds: the weights' hash and the calibrated thresholds."""

    sha256: str
    threshold: float  # answerability: abstain when the best candidate's probability is below
    extra_threshold: float  # a second or third sentence joins the answer at or above this
    layers: int = LAYERS
    max_length: int = MAX_LENGTH

    @classmethod
    def read(cls, folder: Path) -> ReaderConfig:
        data = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        return cls(
            sha256=str(data["sha256"]),
            threshold=float(data["threshold"]),
            extra_threshold=float(data["extra_threshold"]),
            layers=int(data.get("layers", LAYERS)),
            max_length=int(data.get("max_length", MAX_LENGTH)),
        )


def build_cross_encoder(base_dir: Path, layers: int = LAYERS, max_length: int = MAX_LENGTH) -> Any:
    """The reader's architecture over the base model's folder: its first `layers` layers, mean
    pooling, one linear score. Used untrained by the training script, then with weights loaded."""
    model_environment()
    from sentence_transformers import CrossEncoder
    from sentence_transformers.cross_encoder.modules import Dense, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from torch import nn
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()  # the dropped layers 7-12 are "unused weights"
    encoder = Transformer(
        str(base_dir),
        transformer_task="feature-extraction",
        config_kwargs={"num_hidden_layers": layers},
        max_seq_length=max_length,
    )
    hidden = encoder.get_embedding_dimension()
    pooling = Pooling(hidden, pooling_mode="mean")
    head = Dense(hidden, 1, activation_function=nn.Identity(), module_output_name="scores")
    model = CrossEncoder(modules=[encoder, pooling, head], device="cpu", activation_fn=nn.Sigmoid())
    model.max_seq_length = max_length
    return model


def trained_state(model: Any) -> dict[str, Any]:
    """The weights the training changes (everything but the frozen embeddings), in fp16."""
    return {
        name: tensor.detach().to("cpu").half().contiguous()
        for name, tensor in model.state_dict().items()
        if ".embeddings." not in name and ".pooler." not in name  # the pooler is unused
    }


class Reader:
    """Scores candidates for a question with the trained cross-encoder."""

    def __init__(self, base_dir: Path, folder: Path, batch_size: int = 32) -> None:
        weights = folder / WEIGHTS_FILE
        if not (folder / CONFIG_FILE).exists():
            raise ModelError(
                f"No trained reader in {folder}: train one with `python eval/reader/train.py --out DIR` "
                "and point RAG_READER_DIR at DIR, or answer with RAG_READER=evidence (the default)"
            )
        try:
            self.config = ReaderConfig.read(folder)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"The reader's settings {folder / CONFIG_FILE} cannot be read: {exc}") from exc
        if not weights.exists():
            raise ModelError(
                f"The reader's weights {weights} are missing: retrain them with eval/reader/train.py "
                "or answer with RAG_READER=evidence (the default)"
            )
        actual = file_sha256(weights)
        if actual != self.config.sha256:
            raise ModelError(
                f"The reader's weights {weights} do not match their hash (sha256 {actual[:12]}..., "
                f"expected {self.config.sha256[:12]}...): the file is damaged or was replaced; "
                "retrain them with eval/reader/train.py"
            )
        from safetensors.torch import load_file

        self.base_dir = base_dir
        self.batch_size = batch_size
        self.model = build_cross_encoder(base_dir, self.config.layers, self.config.max_length)
        state = {name: tensor.float() for name, tensor in load_file(str(weights)).items()}
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        if unexpected or [name for name in missing if ".embeddings." not in name and ".pooler." not in name]:
            raise ModelError(f"The reader's weights {weights} do not fit the reader: retrain them")
        self.model.eval()

    def score(self, question: str, candidates: Sequence[ReaderInput]) -> list[float]:
        """The probability that each candidate answers the question."""
        if not candidates:
            return []
        return predict(self.model, [(question, candidate.text()) for candidate in candidates], self.batch_size)


def predict(model: Any, pairs: list[tuple[str, str]], batch_size: int, progress: bool = False) -> list[float]:
    """The cross-encoder's probabilities for (question, candidate text) pairs, in bf16 where the
    CPU computes it natively (about 3x faster here than fp32)."""
    import torch

    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=has_bf16()):
        scores = model.predict(pairs, batch_size=batch_size, show_progress_bar=progress, convert_to_numpy=True)
    return [float(s) for s in scores]


@functools.lru_cache(maxsize=1)
def has_bf16() -> bool:
    """Whether this CPU computes in bf16 natively (AVX-512 BF16 or AMX); elsewhere fp32 is faster."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


@functools.lru_cache(maxsize=2)
def load_reader(base_dir: Path, folder: Path) -> Reader:
    """The reader, loaded once per process (it is shared by every answerer)."""
    return Reader(base_dir, folder)


class SentenceScorer(Protocol):
    """Scores candidate sentences for a question; the answerer quotes the best ones.

    `threshold`: the best candidate must score at least this, or the answerer abstains;
    `extra_threshold`: further sentences join the answer at or above this.
    """

    name: str
    threshold: float
    extra_threshold: float
    pairs: bool  # whether two adjacent sentences are also read together, as one candidate

    def score(self, question: str, candidates: Sequence[tuple[ReaderInput, str]]) -> list[float]:
        """A score for each (candidate, language of its document)."""
        ...

    def prepare(self, passages: Sequence[Passage]) -> None:
        """Do now, at ingest, what reading these newly stored passages will need (their
        documents' earlier versions are gone): nothing, or embed their sentences. A removed
        document's part is dropped by rag.index.sentence_vectors.forget_documents."""
        ...


@dataclass(frozen=True)
class Passage:
    """A stored chunk as the reader reads it."""

    doc_id: str
    title: str
    text: str


class _NothingToPrepare:
    """For the readers that compute everything when asked."""

    def prepare(self, passages: Sequence[Passage]) -> None:
        return None


def bundled_base(settings: Settings) -> Path:
    """The bundled e5's folder, which the trained readers load on top of."""
    from rag.models.bundled import bundled_model_dir, is_prepared

    if not is_prepared(settings.model_cache):
        raise ModelError(
            f"The reader needs the bundled model, which is not prepared in {settings.model_cache}: "
            "run `rag models prepare` (the set-up script does it)"
        )
    return bundled_model_dir(settings.model_cache)


class CrossEncoderScorer(_NothingToPrepare):
    """The trained reader: calibrated probabilities that a sentence answers the question."""

    name = "cross-encoder"
    pairs = True

    def __init__(self, settings: Settings) -> None:
        self.reader = load_reader(bundled_base(settings), settings.reader_dir)
        self.threshold = self.reader.config.threshold
        self.extra_threshold = self.reader.config.extra_threshold

    def score(self, question: str, candidates: Sequence[tuple[ReaderInput, str]]) -> list[float]:
        return self.reader.score(question, [candidate for candidate, _ in candidates])


class CosineScorer(_NothingToPrepare):
    """The embedding cosine between question and sentence: no trained weights, any embedding
    model, but it measures topic rather than answerhood (README "The reader"). Cross-lingual
    similarities run lower than same-language ones, so they get `cross_lingual_margin` back."""

    name = "cosine"
    pairs = True  # a sentence, or two adjacent ones when together they match better

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.embedder = embedder
        self.margin = settings.cross_lingual_margin
        self.threshold = settings.min_sentence_score
        self.extra_threshold = float("inf")  # one unit: a sentence, or two adjacent ones

    def score(self, question: str, candidates: Sequence[tuple[ReaderInput, str]]) -> list[float]:
        if not candidates:
            return []
        import numpy as np

        from rag.text.language import detect_language

        language = detect_language(question)
        scores = np.asarray(cosine_scores(self.embedder, question, [c.sentence for c, _ in candidates]))
        bonus = np.asarray([0.0 if lang == language else self.margin for _, lang in candidates], dtype=np.float32)
        return [float(s) for s in scores + bonus]


def cosine_scores(embedder: Embedder, question: str, sentences: Sequence[str]) -> list[float]:
    """The e5 cosine between the question and each sentence."""
    import numpy as np

    query = np.asarray(embedder.embed_query(question), dtype=np.float32)
    vectors = np.asarray(embedder.embed_passages(list(sentences)), dtype=np.float32).reshape(len(sentences), -1)
    norms = np.linalg.norm(vectors, axis=1) * (np.linalg.norm(query) or 1.0)
    return [float(s) for s in vectors @ query / np.where(norms == 0, 1.0, norms)]


EVIDENCE_FILE = weight_path("evidence.json")
ADAPTER_DIR = weight_path("reader_adapter")
ADAPTER_WEIGHTS = "adapter.safetensors"
# A second adapter, trained with on-topic unanswerable questions and a "no answer" candidate
# (train_biencoder.py --null-bar): its cosine decides whether to answer, not which sentence.
DECIDER_DIR = weight_path("decider_adapter")
ADAPTER_INFO = "adapter.json"
MAX_SENTENCE_TOKENS = 64  # a candidate sentence longer than this is read up to here


def save_adapter(model: Any, folder: Path, scale: float, info: dict[str, Any]) -> None:
    """Save the LoRA matrices peft trained in a sentence-transformers model (only them, in
    fp16, named by the layer they change) with their scale and sha256."""
    from safetensors.torch import save_file

    state = {}
    for name, tensor in model.state_dict().items():
        if ".lora_A." in name or ".lora_B." in name:
            layer = name.split("base_model.model.", 1)[1].replace(".default.weight", "")
            state[layer] = tensor.detach().half().contiguous()  # e.g. encoder.layer.0.attention.self.query.lora_A
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / ADAPTER_WEIGHTS
    save_file(state, str(weights))
    info = {"sha256": file_sha256(weights), "scale": scale, **info}
    (folder / ADAPTER_INFO).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")


def merge_adapter(encoder: Any, state: dict[str, Any], scale: float) -> None:
    """Add each LoRA update, scale * B @ A, to the weight of the layer it was trained for."""
    import torch

    layers = dict(encoder.named_modules())
    with torch.no_grad():
        for key in [k for k in state if k.endswith(".lora_A")]:
            layer = key.removesuffix(".lora_A")
            a, b = state[key].float(), state[f"{layer}.lora_B"].float()
            layers[layer].weight += scale * (b @ a)


class ReaderEmbedder:
    """The bundled e5 with the reader's LoRA adapter (eval/reader/train_biencoder.py): its
    cosines rank the sentence that answers a question above the one that shares its topic.
    Used only to score candidate sentences; retrieval keeps the base model's vectors."""

    def __init__(self, base_dir: Path, folder: Path = ADAPTER_DIR) -> None:
        weights = folder / ADAPTER_WEIGHTS
        scale, sha256 = adapter_info(folder)
        if not weights.exists() or file_sha256(weights) != sha256:
            raise ModelError(
                f"The reader's adapter {weights} is missing or does not match its hash: reinstall the package "
                "or retrain it with eval/reader/train_biencoder.py"
            )
        model_environment()
        from safetensors.torch import load_file
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        transformers_logging.set_verbosity_error()
        self.model = SentenceTransformer(str(base_dir), device="cpu")
        self.model.max_seq_length = MAX_SENTENCE_TOKENS
        self.sha256 = sha256
        try:
            merge_adapter(self.model[0].auto_model, load_file(str(weights)), scale)
        except (KeyError, RuntimeError) as exc:
            raise ModelError(f"The reader's adapter {weights} does not fit the base model ({exc}): retrain it") from exc
        self.model.eval()

    def share_token_embeddings(self, embedder: Embedder) -> bool:
        """Use the retrieval model's token embeddings instead of this copy's when they are the
        same (the adapter does not change them): 96 of e5's 118 M parameters, 384 MB saved in a
        served chat. Whether it shared them."""
        import torch

        encoder: Any = self.model[0].auto_model
        mine = encoder.embeddings
        theirs: Any = getattr(embedder, "token_embeddings", lambda: None)()
        if theirs is None or theirs is mine.word_embeddings:
            return theirs is not None
        if theirs.weight.shape != mine.word_embeddings.weight.shape or not torch.equal(
            theirs.weight, mine.word_embeddings.weight
        ):
            return False
        mine.word_embeddings = theirs
        return True

    def vectors(self, texts: Sequence[str], queries: bool) -> Any:
        """Unit vectors (numpy, one row per text), in bf16 where the CPU computes it natively."""
        import torch

        prefix = "query: " if queries else "passage: "
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=has_bf16()):
            return self.model.encode(
                [prefix + t for t in texts], batch_size=64, normalize_embeddings=True, convert_to_numpy=True
            ).astype("float32")

    def cosines(self, question: str, sentences: Sequence[str]) -> list[float]:
        if not sentences:
            return []
        return [float(v) for v in self.vectors(sentences, False) @ self.vectors([question], True)[0]]


def adapter_info(folder: Path) -> tuple[float, str]:
    """An adapter folder's settings (adapter.json): the scale of its LoRA updates and the sha256
    its weights are checked against when they load."""
    try:
        info = json.loads((folder / ADAPTER_INFO).read_text(encoding="utf-8"))
        return float(info["scale"]), str(info["sha256"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(
            f"The reader's adapter settings {folder / ADAPTER_INFO} cannot be read ({exc}): reinstall the package"
        ) from exc


def adapter_sha256(folder: Path) -> str:
    """The sha256 an adapter folder declares for its weights ("" when it cannot be read)."""
    try:
        return adapter_info(folder)[1]
    except ModelError:
        return ""


@functools.lru_cache(maxsize=2)
def load_reader_embedder(base_dir: Path, folder: Path = ADAPTER_DIR) -> ReaderEmbedder:
    return ReaderEmbedder(base_dir, folder)


@dataclass(frozen=True)
class EvidenceModel:
    """The evidence reader's weights, as eval/reader/train_evidence.py saves them."""

    logistic: LogisticModel  # over rag.read.features.FEATURES (its own threshold is not used)
    answer_cosine: float  # answer only when the closest candidate's cosine reaches this
    extra_threshold: float  # a further sentence joins the answer at this probability
    adapter_sha256: str = ""  # the reader adapter whose cosines it was trained on ("": the base e5's)
    cross_lingual_margin: float = 0.0  # added to the cosine of a sentence in another language
    decider_sha256: str = ""  # the adapter whose cosine `answer_cosine` bars ("": the reader adapter's)
    decider_candidates: int = 0  # the best candidates, by probability, the decider reads (0: all)

    @classmethod
    def from_json(cls, model: dict[str, Any]) -> EvidenceModel:
        from rag.models.logistic import LogisticModel

        return cls(
            LogisticModel(
                tuple(model["features"]),
                tuple(float(x) for x in model["mean"]),
                tuple(float(x) for x in model["scale"]),
                tuple(float(x) for x in model["coef"]),
                float(model["intercept"]),
            ),
            answer_cosine=float(model["answer_cosine"]),
            extra_threshold=float(model["extra_threshold"]),
            adapter_sha256=str(model.get("adapter_sha256", "")),
            cross_lingual_margin=float(model.get("cross_lingual_margin", 0.0)),
            decider_sha256=str(model.get("decider_sha256", "")),
            decider_candidates=int(model.get("decider_candidates", 0)),
        )

    @classmethod
    def read(cls, path: Path) -> EvidenceModel:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            model = data["model"]
            digest = hashlib.sha256(json.dumps(model, sort_keys=True).encode()).hexdigest()
            loaded = cls.from_json(model)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(
                f"The evidence reader's weights {path} cannot be read ({exc}): reinstall the package"
            ) from exc
        if digest != data.get("sha256"):
            raise ModelError(
                f"The evidence reader's weights {path} do not match their hash: the file is damaged or was "
                "edited; reinstall the package or retrain them with eval/reader/train_evidence.py"
            )
        from rag.read.features import FEATURES

        logistic = loaded.logistic
        if logistic.features != FEATURES or not len(logistic.mean) == len(logistic.scale) == len(
            logistic.weights
        ) == len(FEATURES):
            raise ModelError(
                f"The evidence reader's weights {path} were trained on other features than this version "
                "computes: retrain them with eval/reader/train_evidence.py"
            )
        return loaded


@functools.lru_cache(maxsize=2)
def load_evidence(path: Path = EVIDENCE_FILE) -> EvidenceModel:
    return EvidenceModel.read(path)


class EvidenceScorer:
    """The probability that a sentence answers, from a logistic regression over the cosine of
    the reader adapter, word and name overlap and the kind of answer the question wants
    (rag/read/features.py); its weights ship in rag/evidence.json, checked by hash.

    Whether the question is answered at all is not decided by that probability, which ranks the
    candidates against each other well but says little about whether any of them answers: the
    reader answers when the decider's cosine (a second adapter, trained to keep an unanswered
    question away from every sentence) of the closest of the most probable candidates reaches
    `answer_cosine` (calibrated on retrieved passages for our Wikinews questions, README "The
    reader"); weights without a decider bar the reader adapter's closest cosine instead. When
    it does not, every score is its probability minus one, below the threshold of 0: the
    answerer abstains and the ranking is kept.
    """

    name = "evidence"
    pairs = True
    threshold = 0.0

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        model: EvidenceModel | None = None,
        adapter: Path = ADAPTER_DIR,
        decider: Path = DECIDER_DIR,
    ) -> None:
        self.embedder = embedder
        self.model = model or load_evidence()
        self.extra_threshold = self.model.extra_threshold
        self.reader_embedder: ReaderEmbedder | None = None
        if self.model.adapter_sha256:
            self.reader_embedder = load_reader_embedder(bundled_base(settings), adapter)
            self.reader_embedder.share_token_embeddings(embedder)
            if self.reader_embedder.sha256 != self.model.adapter_sha256:
                raise ModelError(
                    f"The evidence reader {EVIDENCE_FILE} was trained on another adapter than {adapter}: "
                    "retrain it with eval/reader/train_evidence.py"
                )
            from rag.index.sentence_vectors import FILE_NAME, SentenceVectors

            tag = f"{self.reader_embedder.sha256}:{MAX_SENTENCE_TOKENS}"
            dimensions = int(self.reader_embedder.model.get_embedding_dimension() or 0)
            self.kept = SentenceVectors(settings.index / FILE_NAME, tag, dimensions)
        # The decider loads when first asked (ingest never needs it); its hash is checked now.
        self.settings, self.decider_dir = settings, decider
        self._decider: ReaderEmbedder | None = None
        self._decider_lock = threading.Lock()  # a served chat's first questions come at once
        declared = adapter_sha256(decider) if self.model.decider_sha256 else ""
        if self.model.decider_sha256 and not declared:
            raise ModelError(f"The decider {decider / ADAPTER_INFO} is missing or unreadable: reinstall the package")
        if declared != self.model.decider_sha256:
            raise ModelError(
                f"The evidence reader {EVIDENCE_FILE} was calibrated on another decider than {decider}: "
                "recalibrate it with eval/reader/train_evidence.py --decider"
            )

    @property
    def decider(self) -> ReaderEmbedder | None:
        """The decider adapter's copy of e5, loaded on first use (None without one)."""
        if self._decider is None and self.model.decider_sha256:
            with self._decider_lock:
                if self._decider is None:
                    decider = load_reader_embedder(bundled_base(self.settings), self.decider_dir)
                    if decider.sha256 != self.model.decider_sha256:  # changed since the check at start
                        raise ModelError(f"The decider {self.decider_dir} changed since the reader started: restart")
                    decider.share_token_embeddings(self.embedder)
                    self._decider = decider
        return self._decider

    @decider.setter
    def decider(self, decider: ReaderEmbedder | None) -> None:
        self._decider = decider

    def cosines(self, question: str, texts: Sequence[str], owners: dict[str, str] | None = None) -> list[float]:
        """The cosines the model was trained on: the reader adapter's (sentence vectors kept
        from ingest where they were; `owners` names the document of each text, to keep those
        computed now), or the retrieval e5's."""
        if self.reader_embedder is None:
            return cosine_scores(self.embedder, question, texts)
        if not texts:
            return []
        vectors = self.sentence_vectors(texts, owners or {})
        return [float(c) for c in vectors @ self.reader_embedder.vectors([question], True)[0]]

    def sentence_vectors(self, texts: Sequence[str], owners: dict[str, str]) -> Any:
        """The adapter's unit vector of each text (a numpy row each): kept ones are read, the
        others computed and kept under their owner's document id."""
        import numpy as np

        found, computed = self._kept_or_embedded(texts)
        self.kept.put((t, owners.get(t, ""), found[t]) for t in computed)
        return np.stack([found[t] for t in texts])

    def _kept_or_embedded(self, texts: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
        """Each text's vector, read from the kept ones or computed now, and the texts computed.
        Computed vectors are rounded to fp16 as kept ones are: an answer does not depend on
        whether its sentences were embedded at ingest or when asked."""
        import numpy as np

        assert self.reader_embedder is not None
        found = self.kept.get(texts)
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            vectors = self.reader_embedder.vectors(missing, False).astype(np.float16).astype(np.float32)
            found.update(zip(missing, vectors, strict=True))
        return found, missing

    def prepare(self, passages: Sequence[Passage]) -> None:
        """Embed and keep the sentences of these passages: the question-time reader's work
        done at ingest (rag/index/sentence_vectors.py). A document's earlier rows are dropped first;
        a sentence another document already has is not embedded again. A question in a passage
        is never a candidate (rag/answer/extractive.py's reader_inputs), so it is not embedded."""
        if self.reader_embedder is None or not passages:
            return
        from rag.text.sentences import asks, candidate_sentences

        self.kept.forget([p.doc_id for p in passages])
        rows = dict.fromkeys(
            (s.text, p.doc_id) for p in passages for s in candidate_sentences(p.text, p.title) if not asks(s.text)
        )
        found, _ = self._kept_or_embedded([text for text, _ in rows])
        self.kept.put((text, doc_id, found[text]) for text, doc_id in rows)

    def score(self, question: str, candidates: Sequence[tuple[ReaderInput, str]]) -> list[float]:
        probabilities, closest = self.read(question, candidates)
        if closest >= self.model.answer_cosine:
            return probabilities
        return [p - 1.0 for p in probabilities]

    def read(self, question: str, candidates: Sequence[tuple[ReaderInput, str]]) -> tuple[list[float], float]:
        """Each candidate's probability of answering, and the question's answerability (the
        cosine `answer_cosine` bars)."""
        if not candidates:
            return [], -1.0
        from rag.read.features import features
        from rag.text.language import detect_language

        language = detect_language(question)
        owners = {piece: c.doc_id for c, _ in candidates for piece in c.pieces}
        texts = list(owners)
        cosine = dict(zip(texts, self.cosines(question, texts, owners), strict=True))
        units = [c.unit(cosine, lang != language) for c, lang in candidates]
        probabilities = self.model.logistic.probabilities(features(question, units, self.model.cross_lingual_margin))
        return probabilities, self.answerability(question, [c for c, _ in candidates], probabilities, cosine)

    def answerability(
        self, question: str, candidates: Sequence[ReaderInput], probabilities: Sequence[float], cosine: dict[str, float]
    ) -> float:
        """The cosine `answer_cosine` bars: the decider's closest to the question among the
        `decider_candidates` most probable candidates (a handful of sentences embedded now), or
        without a decider the reader adapter's closest among all (`cosine`, each piece's)."""
        if self.decider is None:
            return max(cosine.values())
        best = sorted(range(len(candidates)), key=lambda i: -probabilities[i])[: self.model.decider_candidates or None]
        pieces = list(dict.fromkeys(piece for i in best for piece in candidates[i].pieces))
        return max(self.decider.cosines(question, pieces))


SCORERS = ("cosine", "evidence", "cross-encoder")


def make_scorer(settings: Settings, embedder: Embedder) -> SentenceScorer:
    """The scorer named by settings.reader."""
    if settings.reader == "cross-encoder":
        return CrossEncoderScorer(settings)
    if settings.reader == "cosine":
        return CosineScorer(settings, embedder)
    if settings.reader == "evidence":
        return EvidenceScorer(settings, embedder)
    raise SettingsError(f"reader must be one of {', '.join(SCORERS)} (got {settings.reader!r})")
