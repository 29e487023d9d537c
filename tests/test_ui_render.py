"""An answer's HTML and Markdown, and the links the page may show."""

from __future__ import annotations

from ui.render import _safe_link, _title_html


def test_source_links_are_only_http():
    assert _safe_link("javascript:alert(1)") == "" and _safe_link("data:text/html,x") == ""
    assert _title_html("<b>t</b>", "javascript:alert(1)") == "&lt;b&gt;t&lt;/b&gt;"
