"""An answer as the page shows it: HTML for the chat and the sources panel, Markdown to copy.

Everything that comes from a document (titles, passages, links) is escaped here, and only the
answer's own citations become links: a "[2]" inside a quoted article stays text.
"""

from __future__ import annotations

import html
import re

from rag.pipeline import is_url
from rag.types import Answer, AnswerSentence, Citation, DocumentInfo, Hit

_CITATION = re.compile(r"\[(\d+)\]")
_NEW_TAB = 'target="_blank" rel="noopener noreferrer"'


def answer_markdown(answer: Answer) -> str:
    """The answer with each [n] turned into a link to source n; a generated sentence that its
    cited passage doesn't support is shown as such; a notice follows when there is one."""
    if answer.abstained:
        body = f'<span class="abstained">{html.escape(answer.text)}</span>'
    elif answer.sentences:
        # Built from the sentences, so that only the answer's own citations become links: a
        # "[2]" inside a quoted article (a footnote, or a fake meant to mislead) stays text.
        body = " ".join(sentence_html(s) for s in answer.sentences if not s.dropped)
    else:
        body = _link_citations(html.escape(answer.text))
    if answer.hedge:  # not sure enough to be the answer: the closest sentence, shown as such
        body = f'<div class="hedge">{html.escape(answer.hedge)}</div><span class="hedged">{body}</span>'
    if answer.confidence is not None:
        body += f'<div class="confidence">Confidence {answer.confidence:.0%}</div>'
    if answer.notice:
        body += f'<div class="notice">Note: {html.escape(answer.notice)}</div>'
    if answer.dates is not None:
        body += f'<div class="notice">{html.escape(answer.dates.note())}.</div>'
    if answer.rejected:  # what the model wrote, for the curious: each sentence with its verdict
        written = " ".join(sentence_html(s) for s in answer.rejected)
        body += f'<details class="notice"><summary>What the model wrote</summary>{written}</details>'
    return body


def sentence_html(sentence: AnswerSentence) -> str:
    """One answer sentence with its citation links; marked ⚠, with the judge's reasons on
    hover, when its cited passage does not support it."""
    marks = "".join(_cite_link(n) for n in sentence.citations)
    text = f"{html.escape(sentence.text)} {marks}".strip()
    if sentence.supported:
        return text
    why = "; ".join(sentence.reasons) or "the judge found no support"
    title = html.escape(f"Not supported by the cited passage ({why})", quote=True)
    return f'<span class="unsupported" title="{title}">⚠ {text}</span>'


def sources_html(answer: Answer) -> str:
    """One block per citation: title, date, source and the passage with the quote highlighted."""
    if answer.abstained:
        return "<h4>No answer in the documents: the closest passages</h4>" + "".join(
            _closest_html(i, h) for i, h in enumerate(answer.hits[:3], 1)
        )
    by_chunk: dict[str, list[Citation]] = {}
    for c in answer.citations:  # quotes from one passage are shown in one block
        by_chunk.setdefault(c.chunk_id, []).append(c)
    return "<h4>Sources</h4>" + "".join(_source_html(quotes) for quotes in by_chunk.values())


def answer_as_markdown(answer: Answer) -> str:
    """The answer as a reader pastes it elsewhere: its sentences with their [n], then each
    citation: title, date, link (or file) and the quoted sentence."""
    if answer.abstained:
        return answer.text
    if answer.sentences:
        kept = [s for s in answer.sentences if not s.dropped]
        text = " ".join(f"{s.text} {''.join(f'[{n}]' for n in s.citations)}".strip() for s in kept)
    else:
        text = answer.text
    lines = [f"_{answer.hedge}_", "", text, ""] if answer.hedge else [text, ""]
    for c in answer.citations:
        where = f"<{c.url}>" if c.url else c.source
        lines.append(f"[{c.n}] {c.title} ({c.date}), {where}: « {' '.join(c.quote.split())} »")
    return "\n".join(lines).strip()


def source_markdown(document: DocumentInfo) -> str:
    """The document list's source cell: its file or URL, a link to its page when it has one."""
    link = _safe_link(document.url)
    if link:
        return f"[{_markdown_escape(document.source)}]({link.replace(')', '%29').replace(' ', '%20')})"
    return _markdown_escape(document.source)


def _closest_html(i: int, hit: Hit) -> str:
    """Closest passage i of an abstention, whole."""
    return (
        f'<div class="source" id="closest-{i}"><div class="meta">closest passage {i} · '
        f"{_title_html(hit.title, hit.url)} · {html.escape(hit.date)} · {_origin_html(hit)}</div>"
        f"<p>{_paragraphs(html.escape(hit.text))}</p></div>"
    )


def _source_html(quotes: list[Citation]) -> str:
    """One passage with each of its quotes highlighted, under the numbers that cite it."""
    first = quotes[0]
    parts, cursor = [], 0
    for c in sorted(quotes, key=lambda q: q.quote_start):
        parts.append(_paragraphs(html.escape(first.passage[cursor : c.quote_start])))
        parts.append(f'<mark id="src-{c.n}">{_quote_html(c)} <sup>[{c.n}]</sup></mark>')
        cursor = c.quote_end
    parts.append(_paragraphs(html.escape(first.passage[cursor:])))
    numbers = "".join(f"[{c.n}]" for c in quotes)
    return (
        f'<div class="source"><b>{numbers} {_title_html(first.title, first.url)}</b>'
        f'<div class="meta">{html.escape(first.date)} · {_origin_html(first)}</div>'
        f"<p>{''.join(parts)}</p></div>"
    )


def _link_citations(escaped: str) -> str:
    return _CITATION.sub(lambda m: _cite_link(int(m.group(1))), escaped)


def _cite_link(n: int) -> str:
    """[n] as a link to source n in the sources panel."""
    return f'<a class="cite" href="#src-{n}">[{n}]</a>'


def _quote_html(c: Citation) -> str:
    """The quote, escaped, with the short answer the reader found in it (if any) in bold."""
    text = c.passage
    if not c.quote_start <= c.span_start < c.span_end <= c.quote_end:
        return html.escape(text[c.quote_start : c.quote_end])
    return (
        html.escape(text[c.quote_start : c.span_start])
        + '<strong class="answer-span" title="the likely answer">'
        + html.escape(text[c.span_start : c.span_end])
        + "</strong>"
        + html.escape(text[c.span_end : c.quote_end])
    )


def _safe_link(url: str) -> str:
    """The URL if it is an http(s) link, else "" (never a javascript: or data: link)."""
    return url if is_url(url) else ""


def _title_html(title: str, url: str) -> str:
    """A source's title, a link to its page when it has one (opens in a new tab)."""
    link = _safe_link(url)
    if not link:
        return html.escape(title)
    return f'<a class="origin" href="{html.escape(link, quote=True)}" {_NEW_TAB}>{html.escape(title)}</a>'


def _origin_html(item: Citation | Hit) -> str:
    """Where a source comes from: its link, or its file."""
    link = _safe_link(item.url)
    if not link:
        return html.escape(item.source)
    return f'<a href="{html.escape(link, quote=True)}" {_NEW_TAB}>{html.escape(link)}</a>'


def _markdown_escape(text: str) -> str:
    """Escape what Markdown would turn into markup in a path or URL (underscores inside words
    stay as they are: Markdown leaves them alone)."""
    return re.sub(r"([\\`*\[\]<>])", r"\\\1", text)


def _paragraphs(escaped: str) -> str:
    return escaped.replace("\n\n", "<br><br>").replace("\n", "<br>")
