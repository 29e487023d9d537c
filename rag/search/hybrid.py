"""Hybrid retrieval: dense (e5 through Chroma), lexical (BM25 over SQLite FTS5) and the passages
that hold the question's names, fused into one ranking."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rag.errors import SettingsError
from rag.index.index import Index
from rag.models.embedder import Embedder
from rag.settings import Settings
from rag.text.dates import DateRange, bounds
from rag.text.language import detect_language
from rag.text.names import question_names, spellings
from rag.types import Hit

if TYPE_CHECKING:
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore

FUSION_MODES = {"relative": "relative_score", "rrf": "reciprocal_rerank"}
# The lexical side's best candidates written in another language than the query are given their
# dense score too: e5 rates a passage in the query's own language above one in another language
# on the same subject, so a passage found across languages by its words (a name) would miss the
# dense side's candidates and count as its worst. Only the first few: giving it to every lexical
# candidate in another language costs other questions their article (French questions about
# English articles).
CROSS_LANGUAGE_WORD_MATCHES = 3
# A name tells passages apart when at most this share of the chunks hold it (and never fewer
# than NAME_MIN_CHUNKS may): "Inter" in 24 of PIAF's 419 chunks does not, "Brad Smith" in 1 of
# the demo corpus's 2,404 does.
NAME_SHARE = 0.02
NAME_MIN_CHUNKS = 3


class HybridRetriever:
    """Dense + BM25 candidates fused by llama-index's QueryFusionRetriever."""

    def __init__(self, settings: Settings, index: Index, embedder: Embedder) -> None:
        if settings.fusion not in FUSION_MODES:
            valid = ", ".join(FUSION_MODES)
            raise SettingsError(f"Unknown fusion mode {settings.fusion!r}; valid: {valid}")
        self.settings = settings
        self.index = index
        self.embedder = embedder

    def lexical(self, dates: DateRange | None = None) -> BaseRetriever:
        """The BM25 retriever (its index is brought up to date with the store when it reads: one
        fingerprint a search, whose chunk count costs 42 ms at 1,000,000 chunks)."""
        from rag.search.retrievers import LexicalRetriever

        return LexicalRetriever(self.index.lexical, self.settings.candidates, dates)

    def named(self, query: str, language: str, dates: DateRange | None = None) -> list[NodeWithScore]:
        """The passages in another language than the query's `language` that hold its rarer
        names verbatim: the third side of the fusion. An English question's "Brad Smith" is the
        one thing it shares with a French article that names him, and e5 rates English passages
        on other Smiths closer. In the question's own language BM25 already counts the name's
        words, and a boost there would favour the question's language further (a French
        question's "Parlement" over the English article on Parliament that answers it)."""
        from llama_index.core.schema import NodeWithScore

        names = question_names(query)
        if not names or self.settings.name_weight <= 0:
            return []
        lexical = self.index.lexical
        most = min(self.settings.candidates, max(NAME_MIN_CHUNKS, round(NAME_SHARE * lexical.count())))
        found = lexical.named([spellings(name) for name in names], most, dates)
        return [
            NodeWithScore(node=node, score=score) for node, score in found if node.metadata.get("language") != language
        ]

    def search(
        self, query: str, top_k: int | None = None, dates: DateRange | None = None, recent: bool = False
    ) -> list[Hit]:
        """The `top_k` best passages for the query, among the documents dated within `dates` when
        given; with `recent`, of two passages scored within RECENCY_TIE of each other, the newer
        comes first."""
        from llama_index.core.llms import MockLLM
        from llama_index.core.retrievers import QueryFusionRetriever

        from rag.search.retrievers import DenseRetriever, FixedRetriever

        self.index.store.require_documents()
        k = top_k or self.settings.top_k
        lexical = self.lexical(dates).retrieve(query)
        language = detect_language(query)
        across = [n for n in lexical[:CROSS_LANGUAGE_WORD_MATCHES] if n.node.metadata.get("language") != language]
        named = self.named(query, language, dates)
        dense = DenseRetriever(self.index.store, self.embedder, self.settings.candidates, dates, across + named)
        retrievers = [dense, FixedRetriever(lexical)]
        weights = [1.0 - self.settings.lexical_weight, self.settings.lexical_weight]
        if named:
            retrievers.append(FixedRetriever(named))
            weights.append(self.settings.name_weight)
        fusion = QueryFusionRetriever(
            retrievers,
            llm=MockLLM(),  # one query, no rewriting: the LLM is never called
            mode=FUSION_MODES[self.settings.fusion],  # type: ignore[arg-type]
            retriever_weights=weights,
            similarity_top_k=k + RECENCY_WINDOW if recent else k,
            num_queries=1,
            use_async=False,
        )
        hits = [_to_hit(result) for result in fusion.retrieve(query)]
        return by_recency(hits)[:k] if recent else hits


# Recency as a tie-breaker: passages whose fused scores differ by less than this are ordered
# newest first; a few more candidates are fetched so a newer one just below the cut can move up.
RECENCY_TIE = 0.02
RECENCY_WINDOW = 3


def by_recency(hits: list[Hit]) -> list[Hit]:
    """Hits in score order, except that within a run of scores less than RECENCY_TIE apart
    from the run's best, the newer passage comes first."""
    out: list[Hit] = []
    group: list[Hit] = []
    for hit in sorted(hits, key=lambda h: -h.score):
        if group and group[0].score - hit.score >= RECENCY_TIE:
            out.extend(sorted(group, key=lambda h: -bounds(h.date)[1]))
            group = []
        group.append(hit)
    out.extend(sorted(group, key=lambda h: -bounds(h.date)[1]))
    return out


def _to_hit(result: Any) -> Hit:
    node, meta = result.node, result.node.metadata
    return Hit(
        chunk_id=node.node_id,
        doc_id=str(node.ref_doc_id),
        title=str(meta.get("title", "")),
        source=str(meta.get("source", "")),
        date=str(meta.get("date", "")),
        language=str(meta.get("language", "")),
        text=node.get_content(),
        start=int(meta.get("start", node.start_char_idx or 0)),
        end=int(meta.get("end", node.end_char_idx or 0)),
        score=float(result.score or 0.0),
        url=str(meta.get("url", "")),
    )
