"""Publication dates: ranges, the period a question names, filters in search and answers."""

import json

import pytest

from rag import cli
from rag.errors import RagError
from rag.pipeline import build_pipeline
from rag.search.hybrid import by_recency
from rag.text.dates import DateRange, bounds, range_in_question, wants_recent
from rag.types import Hit
from tests.conftest import FakeEmbedder


def test_bounds_of_days_months_years_and_undated():
    assert bounds("2019-01-04") == (20190104, 20190104)
    assert bounds("2024-02") == (20240201, 20240231)
    assert bounds("2016") == (20160101, 20161231)
    assert bounds("") == (0, 0) and bounds("unknown") == (0, 0)


def test_ranges_from_user_input():
    assert DateRange.parse("", None) is None
    r = DateRange.parse("2018-1-5", "2019")
    assert (r.since, r.until, r.low, r.high) == ("2018-01-05", "2019", 20180105, 20191231)
    assert DateRange.parse("2018", None).high == 99991231
    with pytest.raises(RagError, match="--since 'yesterday' is not a date: write YYYY, YYYY-MM or YYYY-MM-DD"):
        DateRange.parse("yesterday", None)
    with pytest.raises(RagError, match="--until '2018-13' is not a date"):
        DateRange.parse(None, "2018-13")
    with pytest.raises(RagError, match="empty: since 2019 is after until 2018-06"):
        DateRange.parse("2019", "2018-06")


@pytest.mark.parametrize(
    ("question", "period"),
    [
        ("What happened in Burundi in 2016?", "2016"),
        ("Que s'est-il passé au Burundi en 2016 ?", "2016"),
        ("Who won the election in March 2018?", "2018-03"),
        ("Qui a gagné l'élection en mars 2018 ?", "2018-03"),
        ("What did the minister say during May 2019?", "2019-05"),
        ("Quelles manifestations en décembre 2018 ?", "2018-12"),
        ("Why is the EU looking at Mistral?", None),
        ("How many died in the 2019 fire?", None),  # an event's year, not "in 2019"
        ("Did prices rise more in 2016 or in 2017?", None),  # two periods: compared, not narrowed
        ("How many flights were cancelled, 2000 of them?", None),
        ("Quel était le budget de 2016 ?", "2016"),
        ("Pourquoi plus de 2000 personnes ont-elles manifesté ?", None),  # a count, not a year
        ("Why did a crowd of 2000 people gather?", None),
    ],
)
def test_the_period_a_question_names(question, period):
    found = range_in_question(question)
    assert (found.since if found else None) == period
    if found:
        assert found.since == found.until and found.from_question


def test_questions_asking_for_the_latest():
    assert wants_recent("The latest on the Brexit vote?") and wants_recent("Les dernières nouvelles du Brexit ?")
    assert not wants_recent("Why is the EU looking at Mistral?")


def _hit(chunk: str, score: float, date: str) -> Hit:
    return Hit(chunk, chunk, chunk, "", date, "en", "text", 0, 4, score)


def test_recency_breaks_near_ties_only():
    hits = [_hit("old", 0.90, "2016-01-01"), _hit("new", 0.89, "2021-03-01"), _hit("far", 0.50, "2022-01-01")]
    assert [h.chunk_id for h in by_recency(hits)] == ["new", "old", "far"]


ARTICLES = {
    "a2016.txt": "date 2016-05-10\nLe Burundi en crise : des milliers de réfugiés fuient vers la Tanzanie.",
    "a2018.txt": "date 2018-03-02\nLe Burundi organise un référendum constitutionnel contesté par l'opposition.",
    "a2021.txt": "date 2021-02\nBurundi: the government reopens its border with Rwanda after six years.",
}


@pytest.fixture
def dated(fake_pipeline, tmp_path):
    for name, text in ARTICLES.items():
        (tmp_path / name).write_text(text)
    fake_pipeline.ingest([tmp_path / name for name in ARTICLES])
    return fake_pipeline


def test_search_keeps_the_documents_dated_in_the_range(dated):
    everything = dated.search("Burundi", 10)
    assert {h.date for h in everything} == {"2016-05-10", "2018-03-02", "2021-02"}
    since = dated.search("Burundi", 10, DateRange.parse("2018-01-01", None))
    assert {h.date for h in since} == {"2018-03-02", "2021-02"}
    month = dated.search("Burundi", 10, DateRange.parse("2021-02-15", "2021-02-20"))  # a month-dated document
    assert [h.date for h in month] == ["2021-02"]
    assert dated.search("Burundi", 10, DateRange.parse("2030", None)) == []


def test_the_lexical_side_filters_too(dated):
    rows = dated.index.lexical.search("Burundi référendum réfugiés", 10, DateRange.parse(None, "2017"))
    assert [node.metadata["date"] for node, _ in rows] == ["2016-05-10"]


def test_a_question_naming_a_year_reads_that_year_plus_the_best_passage_of_any_date(dated):
    answer = dated.ask("What happened in Burundi in 2018?")
    assert answer.dates == DateRange("2018", "2018", from_question=True)
    dates = [h.date for h in answer.hits]
    assert dates[0] == "2018-03-02" and len(dates) <= 2  # the 2018 document, and at most the best of any date
    assert answer.to_json()["dates"] == {"since": "2018", "until": "2018", "from_question": True}
    # no document dated then: nothing is narrowed
    assert dated.ask("What happened in Burundi in 1995?").dates is None
    # an explicit range wins over the question's
    explicit = dated.ask("What happened in Burundi in 2018?", dates=DateRange.parse("2021", None))
    assert {h.date for h in explicit.hits} == {"2021-02"}


def test_cli_search_and_ask_since_until(runner, dated):
    result = runner.invoke(cli.main, ["search", "Burundi", "--since", "2018-01-01", "--json", "-k", "10"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["hits"]
    assert hits and all(h["date"] >= "2018" for h in hits)
    result = runner.invoke(cli.main, ["ask", "Burundi ?", "--until", "2016-12", "--json"])
    data = json.loads(result.stdout)
    assert data["dates"] == {"since": "", "until": "2016-12", "from_question": False}
    assert all(c["date"].startswith("2016") for c in data["citations"] + data.get("closest", []))
    bad = runner.invoke(cli.main, ["search", "Burundi", "--since", "last week"])
    assert bad.exit_code != 0 and "--since 'last week' is not a date" in bad.output and "Traceback" not in bad.output


def test_an_index_written_before_date_filters_gets_them_when_opened(dated, settings):
    collection = dated.store.collection
    got = collection.get(include=["metadatas"])
    old = [{k: v for k, v in m.items() if k not in ("date_from", "date_to")} for m in got["metadatas"]]
    collection.delete(ids=got["ids"])
    collection.add(ids=got["ids"], metadatas=old, embeddings=[[0.1] * 256] * len(old), documents=["x"] * len(old))
    metadata = {k: v for k, v in collection.metadata.items() if not k.startswith("hnsw:") and k != "dates"}
    collection.modify(metadata={**metadata, "dates": "0"})
    reopened = build_pipeline(settings, embedder=FakeEmbedder())
    metas = reopened.store.collection.get(include=["metadatas"])["metadatas"]
    assert sorted((m["date"], m["date_from"], m["date_to"]) for m in metas) == [
        ("2016-05-10", 20160510, 20160510),
        ("2018-03-02", 20180302, 20180302),
        ("2021-02", 20210201, 20210231),
    ]
