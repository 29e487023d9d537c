from pathlib import Path

import pytest

from rag.errors import DocumentError
from rag.ingest.formats import check_readable, decode_text, doc_id_for, read_document
from tests.conftest import write_samples


def _read(path: Path):
    data = check_readable(path, 10_000_000)
    return read_document(path, data, doc_id_for(path), "hash")


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_samples(tmp_path_factory.mktemp("samples"))


def test_text_with_date_header(samples):
    doc = _read(samples["txt"])
    assert doc.date == "2024-03-05"
    assert doc.text.startswith("La Commission européenne a ouvert une enquête")
    assert "date 2024" not in doc.text
    assert doc.language == "fr"
    assert doc.title.startswith("La Commission européenne")


def test_seed_article_date_and_language():
    seed = Path(__file__).resolve().parent.parent / "corpus" / "000_99cf57f4aa2db4ae.txt"
    doc = _read(seed)
    assert doc.date == "2024-02"
    assert doc.language == "fr"
    assert doc.text.startswith("À peine annoncée")


def test_legacy_encoding_is_decoded(samples):
    doc = _read(samples["latin1"])
    assert "député" in doc.text and "déçu" in doc.text


def test_markdown_title(samples):
    doc = _read(samples["md"])
    assert doc.title == "Budget de la défense"


def test_html_keeps_visible_text_only(samples):
    doc = _read(samples["html"])
    assert doc.title == "Tempête sur la Bretagne"
    assert doc.date == "2023-11-02"
    assert "La tempête Ciaran a privé d'électricité" in doc.text
    assert "secret" not in doc.text and "color" not in doc.text


def test_pdf(samples):
    doc = _read(samples["pdf"])
    assert "chip shortage" in doc.text
    assert doc.title == "Rapport sur les semi-conducteurs"
    assert doc.language == "en"


def test_docx(samples):
    doc = _read(samples["docx"])
    assert "réforme de la justice" in doc.text
    assert doc.title == "Entretien avec une juge"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("empty", "empty"),
        ("blank", "empty"),
        ("binary", "binary"),
        ("corrupt_pdf", "PDF is damaged"),
        ("corrupt_docx", "Word file is damaged"),
        ("unsupported", "unsupported file type '.jpg'"),
        ("dangling", "broken link"),
    ],
)
def test_bad_input_is_named_with_a_reason(samples, kind, expected):
    with pytest.raises(DocumentError, match=expected):
        _read(samples[kind])


def test_too_large(tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("mot " * 1000)
    with pytest.raises(DocumentError, match="too large"):
        check_readable(big, 100)


def test_unreadable_file(tmp_path, monkeypatch):
    path = tmp_path / "secret.txt"
    path.write_text("texte")

    def deny(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", deny)
    with pytest.raises(DocumentError, match="permission denied"):
        check_readable(path, 1000)


def test_utf8_bom_and_cp1252():
    assert decode_text("\ufeffÉté".encode("utf-8")) == "Été"
    assert decode_text("L’été « chaud » coûte 5 €".encode("cp1252")) == "L’été « chaud » coûte 5 €"


def test_doc_id_is_stable_and_path_based(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    assert doc_id_for(a) == doc_id_for(tmp_path / "." / "a.txt")
    assert doc_id_for(a) != doc_id_for(b)


NEWS_PAGE = Path(__file__).parent / "data" / "web" / "news_page.html"


def test_a_saved_news_page_is_read_as_its_article_without_menus_banners_or_related_links(tmp_path):
    """A news page as a browser saves it: cookie banner, menu, article, "Lire aussi", footer."""
    doc = _read(NEWS_PAGE)
    assert doc.title == "Pêche : les thoniers de Sète obtiennent une hausse des quotas"
    assert doc.date == "2019-11-18"
    assert "relevé de 10 % le quota de thon rouge" in doc.text
    assert "a déclaré le président de l'organisation de producteurs, Bertrand Wendling." in doc.text
    assert "répartira le quota entre les États membres en décembre" in doc.text
    for boilerplate in ("cookies", "Accueil", "Abonnez-vous", "Lire aussi", "criée", "Mentions légales", "secret"):
        assert boilerplate not in doc.text, boilerplate
    # paragraphs stay apart, for the chunker and the sentence splitter
    assert "saison prochaine.\n\nLes dix-sept thoniers" in doc.text


def test_a_page_read_again_in_one_process_gives_the_same_text():
    """trafilatura's deduplication remembers paragraphs across calls: it must be off."""
    texts = [_read(NEWS_PAGE).text for _ in range(4)]
    assert texts == texts[:1] * 4 and "relevé de 10 % le quota de thon rouge" in texts[-1]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("scan.pdf", b"\x89PNG\r\n\x1a\n\x00\x00", "named .pdf but it is a PNG image"),
        ("lettre.docx", b"%PDF-1.7\n%\xe2\xe3", "named .docx but it is a PDF"),
        ("article.txt", b"%PDF-1.4\n1 0 obj", "named .txt but it is a PDF: rename it"),
        ("page.html", b"PK\x03\x04\x14\x00", "named .html but it is a ZIP archive"),
        ("notes.md", b"\x1f\x8b\x08\x00", "named .md but it is a gzip archive"),
        ("rapport.pdf", b"Juste du texte, pas un PDF.", "named .pdf but it is text"),
    ],
)
def test_a_file_whose_extension_lies_is_refused_naming_what_it_is(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DocumentError, match=expected):
        _read(path)
