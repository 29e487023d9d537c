from rag.ingest.chunking import chunk_document
from rag.types import Document


def _doc(text: str) -> Document:
    return Document("d1", "/x.txt", "t", "2024-01", "fr", text, "abcdef0123456789")


def test_chunks_keep_exact_offsets_and_overlap():
    sentences = [f"Phrase numéro {i} sur la politique européenne de concurrence." for i in range(80)]
    doc = _doc(" ".join(sentences))
    chunks = chunk_document(doc, chunk_size=64, chunk_overlap=16)
    assert len(chunks) > 3
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text
    # consecutive chunks overlap, and together they cover the whole document
    assert all(b.start < a.end for a, b in zip(chunks, chunks[1:], strict=False))
    assert chunks[0].start == 0 and chunks[-1].end == len(doc.text)


def test_chunks_end_on_sentence_boundaries():
    doc = _doc(" ".join(f"Le ministre {i} a parlé de budget et de dette publique." for i in range(60)))
    for chunk in chunk_document(doc, chunk_size=64, chunk_overlap=16)[:-1]:
        assert chunk.text.endswith(".")


def test_chunk_ids_are_stable_and_change_with_content():
    doc = _doc("Un texte court.")
    again = chunk_document(doc, 64, 16)
    assert [c.chunk_id for c in chunk_document(doc, 64, 16)] == [c.chunk_id for c in again]
    changed = Document("d1", "/x.txt", "t", "", "fr", "Un texte court.", "ffffff0123456789")
    assert chunk_document(changed, 64, 16)[0].chunk_id != again[0].chunk_id
