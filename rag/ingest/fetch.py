"""Fetching web pages and feeds for ingest: polite, bounded and safe.

Every request has a timeout, an honest User-Agent, a size cap (the body is read in pieces and
dropped past it), at most `fetch_max_redirects` redirects (each one checked like the first URL)
and a content-type check. With `allow_private=False` (the web app's default) a URL whose host
resolves to a loopback, private, link-local or otherwise non-public address is refused, at every
redirect, and the request goes to the address that was checked (not to a second look-up that
could answer otherwise): a chat exposed on a network must not become a way into that network.

Every failure is a DocumentError whose message says what went wrong with that URL.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit, urlunsplit

from rag.errors import DocumentError
from rag.settings import Settings

if TYPE_CHECKING:
    import httpx

PAGE_TYPES = ("text/html", "application/xhtml+xml")
FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/xml",
    "text/xml",
)
_REDIRECTS = (301, 302, 303, 307, 308)


def user_agent() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        ours = version("rag-news")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        ours = "dev"
    return f"rag-news/{ours} (a personal news-reading assistant; fetches only what its user asks for)"


def is_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


def normalize_url(url: str) -> str:
    """The URL a document is known by: scheme and host lower-cased, no fragment."""
    parts = urlsplit(url.strip())
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, ""))


@dataclass(frozen=True)
class Fetched:
    """A fetched resource: the URL asked for, where it ended up, and its body."""

    url: str
    final_url: str
    content_type: str
    data: bytes
    last_modified: str = ""


class Fetcher:
    """Fetches pages and feeds under the settings' limits."""

    def __init__(self, settings: Settings, allow_private: bool = True) -> None:
        self.timeout = settings.fetch_timeout
        self.max_bytes = int(settings.fetch_max_mb * 1_000_000)
        self.max_redirects = settings.fetch_max_redirects
        self.allow_private = allow_private

    def page(self, url: str) -> Fetched:
        """An HTML page."""
        return self._get(url, PAGE_TYPES, "a web page (HTML)")

    def feed(self, url: str) -> Fetched:
        """An RSS or Atom feed."""
        return self._get(url, FEED_TYPES, "an RSS or Atom feed")

    def _get(self, url: str, accepted: tuple[str, ...], wanted: str) -> Fetched:
        import httpx

        current = url.strip()
        headers = {"User-Agent": user_agent(), "Accept": ", ".join(accepted) + ";q=0.9, */*;q=0.1"}
        try:
            with httpx.Client(timeout=self.timeout, follow_redirects=False, headers=headers) as client:
                for _ in range(self.max_redirects + 1):
                    response = self._send(client, current, self._check_address(current))
                    try:
                        if response.status_code in _REDIRECTS and response.headers.get("location"):
                            current = urljoin(current, response.headers["location"])
                            continue
                        if response.status_code >= 400:
                            reason = response.reason_phrase or "error"
                            raise DocumentError(f"the server answered HTTP {response.status_code} ({reason})")
                        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
                        if content_type and content_type not in accepted:
                            hint = " (a web page: add it without --feed)" if content_type in PAGE_TYPES else ""
                            raise DocumentError(f"not {wanted}: the server says it is {content_type}{hint}")
                        data = self._read_capped(response)
                        return Fetched(url, current, content_type, data, response.headers.get("last-modified", ""))
                    finally:
                        response.close()
                raise DocumentError(f"too many redirects (more than {self.max_redirects})")
        except httpx.TimeoutException as exc:
            raise DocumentError(f"no answer within {self.timeout:.0f} s (RAG_FETCH_TIMEOUT)") from exc
        except httpx.ConnectError as exc:
            raise DocumentError(f"the host could not be reached ({_reason(exc)})") from exc
        except httpx.HTTPError as exc:
            raise DocumentError(f"the download failed ({type(exc).__name__}: {_reason(exc)})") from exc

    @staticmethod
    def _send(client: httpx.Client, url: str, addresses: list[str] | None) -> httpx.Response:
        """GET `url` (streamed), connecting to each checked address in turn until one answers: a
        host's first address may be unreachable from here (an IPv6 one without an IPv6 route).
        Only a failure to connect moves on: nothing has been sent then."""
        import httpx

        def request(address: str | None) -> httpx.Request:
            target, pinned, extensions = _pinned(url, address)
            return client.build_request("GET", target, headers=pinned, extensions=extensions)

        choices: list[str | None] = [*addresses] if addresses else [None]
        *first, last = choices
        for address in first:
            try:
                return client.send(request(address), stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                continue
        return client.send(request(last), stream=True)

    def _read_capped(self, response: object) -> bytes:
        declared = int(getattr(response, "headers", {}).get("content-length") or 0)
        if declared > self.max_bytes:
            raise DocumentError(self._too_large(declared))
        chunks, size = [], 0
        for piece in response.iter_bytes():  # type: ignore[attr-defined]
            size += len(piece)
            if size > self.max_bytes:
                raise DocumentError(self._too_large(size, more=True))
            chunks.append(piece)
        return b"".join(chunks)

    def _too_large(self, size: int, more: bool = False) -> str:
        amount = f"over {size / 1e6:.1f} MB" if more else f"{size / 1e6:.1f} MB"
        return f"too large ({amount}, limit {self.max_bytes / 1e6:.0f} MB: RAG_FETCH_MAX_MB)"

    def _check_address(self, url: str) -> list[str] | None:
        """Refuse what must not be fetched; the checked public addresses to connect to, in the
        resolver's order, or None (private addresses allowed) to let the client look the host up
        itself. Connecting to an address that was checked, not to a second look-up of the name,
        keeps a host whose DNS answers a public address first and a private one next (DNS
        rebinding) out."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise DocumentError(f"only http:// and https:// links can be fetched (not {parts.scheme or 'this'}:)")
        if not parts.hostname:
            raise DocumentError("the link has no host name")
        if parts.username or parts.password:
            raise DocumentError("links with a user name or password are not fetched")
        if self.allow_private:
            return None
        try:
            infos = socket.getaddrinfo(parts.hostname, parts.port or 80, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError) as exc:
            raise DocumentError(f"the host {parts.hostname} could not be found") from exc
        addresses = list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))
        for text in addresses:
            address = ipaddress.ip_address(text)
            if not address.is_global or address.is_multicast:
                raise DocumentError(
                    f"{parts.hostname} is a private, loopback or link-local address ({address}): the web app "
                    "does not fetch those (set RAG_ALLOW_PRIVATE_URLS=1 to allow them)"
                )
        return addresses or None


def _pinned(url: str, address: str | None) -> tuple[str, dict[str, str], dict[str, str]]:
    """The request for `url` sent to `address`: the URL with the address for host, the Host
    header and (https) the TLS server name of the original host, so that the server and its
    certificate are checked against the name. Unchanged when there is no address."""
    parts = urlsplit(url)
    if address is None or not parts.hostname:
        return url, {}, {}
    host = parts.hostname.encode("idna").decode("ascii")
    ip = f"[{address}]" if ":" in address else address
    port = f":{parts.port}" if parts.port else ""
    target = urlunsplit((parts.scheme, f"{ip}{port}", parts.path or "/", parts.query, ""))
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return target, {"Host": f"{host}{port}"}, extensions


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


@dataclass(frozen=True)
class FeedItem:
    """One entry of a feed: the link to its article, and what the feed says of it."""

    url: str
    title: str
    date: str


def parse_feed(fetched: Fetched) -> list[FeedItem]:
    """The items of an RSS or Atom feed that link to a page; a DocumentError if it is no feed."""
    import feedparser

    parsed = feedparser.parse(fetched.data, response_headers={"content-location": fetched.final_url})
    items: list[FeedItem] = []
    seen: set[str] = set()
    for entry in parsed.get("entries") or []:
        link = str(entry.get("link") or "").strip()
        if not link:
            continue
        url = urljoin(fetched.final_url, link)
        if url in seen:
            continue
        seen.add(url)
        stamp = entry.get("published_parsed") or entry.get("updated_parsed")
        date = f"{stamp.tm_year:04d}-{stamp.tm_mon:02d}-{stamp.tm_mday:02d}" if stamp else ""
        items.append(FeedItem(url, str(entry.get("title") or ""), date))
    if not items and parsed.get("bozo"):  # a feed with small faults but usable items is read
        error = parsed.get("bozo_exception")
        why = _reason(error) if isinstance(error, Exception) else "it does not parse"
        raise DocumentError(f"not a valid RSS or Atom feed ({why})")
    if not items and not parsed.get("version"):
        raise DocumentError("not an RSS or Atom feed (no feed element found)")
    return items
