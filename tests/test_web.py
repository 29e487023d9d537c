"""Pages and feeds from the web: fetched from a local HTTP server serving saved news pages."""

import json

import pytest

from rag import cli
from rag.cli import common
from rag.errors import DocumentError
from rag.ingest.fetch import Fetcher, normalize_url, parse_feed, user_agent
from rag.pipeline import build_pipeline
from rag.settings import Settings
from tests.conftest import FakeEmbedder


def test_ingest_a_url_stores_the_article_with_its_metadata_and_none_of_the_boilerplate(runner, web_site, settings):
    url = f"{web_site}/news_page.html"
    result = runner.invoke(cli.main, ["ingest", url, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["added"] == 1
    pipeline = build_pipeline(settings, embedder=FakeEmbedder())
    [doc] = pipeline.documents()
    assert doc.source == url and doc.url == url
    assert doc.title == "Pêche : les thoniers de Sète obtiennent une hausse des quotas"
    assert doc.date == "2019-11-18"
    assert doc.author == "Claire Martin" and doc.site == "Le Journal du Littoral"
    chunks = pipeline.store.nodes_of([doc.doc_id])
    text = " ".join(text for text, _, _ in chunks)
    assert "relevé de 10 % le quota de thon rouge" in text
    for boilerplate in ("cookies", "Accueil", "Abonnez-vous", "Lire aussi", "Mentions légales", "secret"):
        assert boilerplate not in text, boilerplate
    # the honest User-Agent went with the request
    assert web_site.user_agents[-1] == user_agent() and "rag-news/" in user_agent()
    # a hit cites the page's URL
    hits = pipeline.search("quota de thon rouge")
    assert hits[0].url == url and hits[0].to_json()["url"] == url


def test_ingesting_a_page_again_changes_nothing_unless_its_article_changed(runner, web_site, settings):
    url = f"{web_site}/second_page.html"
    assert runner.invoke(cli.main, ["ingest", url]).exit_code == 0
    again = json.loads(runner.invoke(cli.main, ["ingest", url, "--json"]).stdout)
    assert again["added"] == 0 and again["unchanged"] == 1
    # a redirect to it is the page it leads to, known under the link given
    moved = json.loads(runner.invoke(cli.main, ["ingest", f"{web_site}/moved", "--json"]).stdout)
    assert moved["unchanged"] == 1  # same article as second_page.html: not stored twice
    assert len(build_pipeline(settings, embedder=FakeEmbedder()).documents()) == 1


def test_a_feed_adds_each_item_once_and_a_second_run_adds_nothing(runner, web_site, settings):
    feed = f"{web_site}/feed.xml"
    first = runner.invoke(cli.main, ["ingest", "--feed", feed, "--json"])
    data = json.loads(first.stdout)
    assert data["added"] == 2
    [failure] = data["failed"]  # the third item's page is gone: named, and the rest went in
    assert failure["source"].endswith("/gone.html") and "HTTP 404" in failure["error"]
    assert first.exit_code == 1
    second = json.loads(runner.invoke(cli.main, ["ingest", "--feed", feed, "--json"]).stdout)
    assert second["added"] == 0 and second["updated"] == 0 and second["unchanged"] == 2
    docs = build_pipeline(settings, embedder=FakeEmbedder()).documents()
    assert sorted(d.date for d in docs) == ["2019-11-18", "2021-03-02"]
    # the Atom feed links the same page (relative link): nothing new
    atom = json.loads(runner.invoke(cli.main, ["ingest", "--feed", f"{web_site}/atom.xml", "--json"]).stdout)
    assert atom["unchanged"] == 1 and atom["added"] == 0


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/missing.html", "the server answered HTTP 404 (Not Found)"),
        ("/image.png", "not a web page (HTML): the server says it is image/png"),
        ("/huge.html", "too large (200.0 MB, limit 1 MB"),
        ("/endless.html", "too large (over 1."),  # counted as it arrives: stopped just past 1 MB
        ("/loop", "too many redirects (more than 5)"),
        ("/slow.html", "no answer within 1 s"),
    ],
)
def test_each_bad_url_is_named_with_its_reason_and_the_rest_goes_in(
    runner, web_site, path, reason, monkeypatch, settings
):
    def limited(index, **overrides):
        # a short timeout only where it is the point: a loaded machine may serve others slowly
        limits = settings.with_(fetch_max_mb=1.0, fetch_timeout=1.0 if path == "/slow.html" else 20.0)
        return build_pipeline(limits.with_(index=index or settings.index, **overrides), embedder=FakeEmbedder())

    monkeypatch.setattr(common, "pipeline_from_env", limited)
    result = runner.invoke(cli.main, ["ingest", f"{web_site}{path}", f"{web_site}/second_page.html"])
    assert result.exit_code == 1
    assert "1 added" in result.stderr and "1 failed" in result.stderr
    assert f"failed {web_site}{path}: {reason}" in " ".join(result.stderr.split())
    assert "Traceback" not in result.output


def test_bad_feeds_are_named(runner, web_site):
    result = runner.invoke(
        cli.main,
        ["ingest", "--feed", f"{web_site}/broken_feed.xml", "--feed", f"{web_site}/news_page.html", "--json"],
    )
    assert result.exit_code == 1
    failed = {f["source"].rsplit("/", 1)[1]: f["error"] for f in json.loads(result.stdout)["failed"]}
    assert failed["broken_feed.xml"].startswith("feed: not a valid RSS or Atom feed")
    assert (
        "not an RSS or Atom feed: the server says it is text/html (a web page: add it without --feed)"
        in (failed["news_page.html"])
    )


def test_unreachable_hosts_and_other_schemes_are_named(settings):
    fetcher = Fetcher(settings)
    with pytest.raises(DocumentError, match="could not be reached"):
        fetcher.page("http://127.0.0.1:9/nothing-listens-here")
    with pytest.raises(DocumentError, match="only http:// and https://"):
        fetcher.page("file:///etc/passwd")
    with pytest.raises(DocumentError, match="user name or password"):
        fetcher.page("http://user:secret@example.org/")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:8000/admin",
        "http://10.0.0.5/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
        "http://[::1]/",
        "http://0.0.0.0/",
    ],
)
def test_private_addresses_are_refused_unless_allowed(settings, url):
    with pytest.raises(DocumentError, match="private, loopback or link-local address"):
        Fetcher(settings, allow_private=False).page(url)


def test_a_redirect_to_a_private_address_is_refused_too(settings, web_site, monkeypatch):
    """The first hop is public, the second private: each hop is checked."""
    import rag.ingest.fetch

    checked = []
    original = rag.ingest.fetch.Fetcher._check_address

    def public_first(self, url):
        checked.append(url)
        if len(checked) > 1:
            return original(self, url)

    monkeypatch.setattr(rag.ingest.fetch.Fetcher, "_check_address", public_first)
    with pytest.raises(DocumentError, match="private, loopback or link-local"):
        Fetcher(settings, allow_private=False).page(f"{web_site}/moved")
    assert checked == [f"{web_site}/moved", f"{web_site}/second_page.html"]


def test_feed_items_resolve_relative_links_and_dates(settings, web_site):
    items = parse_feed(Fetcher(settings).feed(f"{web_site}/atom.xml"))
    assert [(i.url, i.date) for i in items] == [(f"{web_site}/second_page.html", "2021-03-02")]


def test_normalized_urls():
    assert normalize_url("HTTPS://Example.ORG/a?b=1#top") == "https://example.org/a?b=1"
    assert normalize_url("http://example.org") == "http://example.org/"


def test_a_feed_is_read_up_to_its_first_articles(web_site, settings):
    pipeline = build_pipeline(settings.with_(fetch_max_items=1), embedder=FakeEmbedder())
    report = pipeline.ingest([], feeds=[f"{web_site}/feed.xml"])
    assert len(report.added) == 1 and not report.failed
    assert any("lists 3 articles; the first 1 were read (RAG_FETCH_MAX_ITEMS)" in note for note in report.notes)


def test_ingest_without_anything_to_add_says_what_to_give(runner):
    result = runner.invoke(cli.main, ["ingest"])
    assert result.exit_code == 2 and "Give files, folders or URLs" in result.output


def test_the_request_goes_to_the_address_that_was_checked(settings, web_site, monkeypatch):
    """DNS rebinding: the host's first answer is public and passes the check, its next one is
    the local site. The fetch must go to the checked address, never to the second answer."""
    import socket as real_socket

    port = int(web_site.rsplit(":", 1)[1])
    answers = []
    lookup = real_socket.getaddrinfo

    def rebinding(host, *args, **kwargs):
        if host != "rebind.example":
            return lookup(host, *args, **kwargs)
        answers.append(host)
        address = "93.184.215.14" if len(answers) == 1 else "127.0.0.1"
        return [(real_socket.AF_INET, real_socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(real_socket, "getaddrinfo", rebinding)
    seen_before = len(web_site.user_agents)
    fetcher = Fetcher(Settings.from_env(index=settings.index, fetch_timeout=2), allow_private=False)
    with pytest.raises(DocumentError):  # 93.184.215.14 cannot be reached from here
        fetcher.page(f"http://rebind.example:{port}/second_page.html")
    assert answers == ["rebind.example"]  # looked up once, by the check
    assert len(web_site.user_agents) == seen_before  # the local site was never asked


def test_a_host_s_checked_addresses_are_tried_in_turn(settings, web_site, monkeypatch):
    """A host's first address may be unreachable from here (IPv6 without a route): the fetch
    moves on to its next checked address, and says the host could not be reached only when none
    answers. 127.0.0.2 stands for the unreachable one (nothing listens there), 127.0.0.1 for a
    reachable public one."""
    import rag.ingest.fetch

    port = int(web_site.rsplit(":", 1)[1])
    addresses = ["127.0.0.2", "127.0.0.1"]
    monkeypatch.setattr(rag.ingest.fetch.Fetcher, "_check_address", lambda self, url: addresses)
    fetcher = Fetcher(settings, allow_private=False)
    seen_before = len(web_site.user_agents)
    assert b"<html" in fetcher.page(f"http://news.example:{port}/second_page.html").data.lower()
    assert len(web_site.user_agents) == seen_before + 1
    addresses[:] = ["127.0.0.2", "127.0.0.3"]
    with pytest.raises(DocumentError, match="could not be reached"):
        fetcher.page(f"http://news.example:{port}/second_page.html")


def test_a_pinned_request_keeps_the_host_s_name_for_the_server_and_tls():
    from rag.ingest.fetch import _pinned

    assert _pinned("https://Example.org:8443/a?b=1", "93.184.215.14") == (
        "https://93.184.215.14:8443/a?b=1",
        {"Host": "example.org:8443"},
        {"sni_hostname": "example.org"},
    )
    assert _pinned("http://example.org", "2606:2800:21f:cb07:6820:80da:af6b:8b2c")[0] == (
        "http://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/"
    )
    assert _pinned("http://example.org/x", None) == ("http://example.org/x", {}, {})


def test_a_pinned_https_request_checks_the_certificate_against_the_host_name(settings, tmp_path, monkeypatch):
    """Sent to the checked address, an https request still gives the server the host's name
    (SNI) and checks the certificate against that name, not against the address."""
    import http.server
    import shutil
    import ssl
    import subprocess
    import threading

    import rag.ingest.fetch

    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make the test's certificates")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tmp_path, check=True, capture_output=True)

    key = ["-newkey", "rsa:2048", "-nodes", "-days", "2"]
    openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=Test CA")
    openssl("req", *key[:3], "-keyout", "site.key", "-out", "site.csr", "-subj", "/CN=tls.example")
    (tmp_path / "ext.cnf").write_text("subjectAltName=DNS:tls.example\n")
    sign = ["-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf"]
    openssl("x509", "-req", "-in", "site.csr", *sign, "-out", "site.pem")

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"<html><body><p>Host {self.headers.get('Host')}</p></body></html>".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "site.pem", tmp_path / "site.key")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    # 127.0.0.1 stands for the public address the check found (the test has no other server)
    monkeypatch.setattr(rag.ingest.fetch.Fetcher, "_check_address", lambda self, url: ["127.0.0.1"])
    fetcher = Fetcher(settings, allow_private=False)
    try:
        assert fetcher.page(f"https://tls.example:{port}/").data == (
            f"<html><body><p>Host tls.example:{port}</p></body></html>".encode()
        )
        with pytest.raises(DocumentError, match="certificate"):
            fetcher.page(f"https://other.example:{port}/")
    finally:
        server.shutdown()
        server.server_close()
