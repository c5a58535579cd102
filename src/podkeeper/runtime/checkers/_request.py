"""Building the httpGet probe's requests as `pkg/probe/http/request.go` and Go's
`net/http` `Client.Do` do: URL from path, canonical headers, defaults, redirects."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import h11

from podkeeper.runtime.checkers._go import go_quote, join_host_port

_DEFAULT_PORTS = {"http": 80, "https": 443}


class ClientError(Exception):
    """A Go `Client.Do` error; the probe output is `Get "<url>": <message>`."""


class BodyError(Exception):
    """Reading the body failed after the headers came: Failure *with an error* (http.go)."""


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_PATH_SAFE = "/%!$&'()*+,;=:@-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


def canonical_header_key(name: str) -> str:
    """Go's `http.CanonicalHeaderKey`: "x-forwarded-for" → "X-Forwarded-For".

    A name with a character that is not a token character is returned unchanged."""
    if not _TOKEN.fullmatch(name):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


@dataclass(frozen=True, slots=True)
class _Target:
    """Where one request goes: the parsed URL."""

    url: str  # as Go's URL.String() prints it, for error messages and Referer
    scheme: str
    hostname: str  # URL.Hostname(): no brackets, no port
    port: int
    netloc: str  # URL.Host: the default Host header
    target: bytes  # request-target: path and query


@dataclass(frozen=True, slots=True)
class Request:
    target: _Target
    headers: tuple[tuple[str, str], ...]  # canonical name → value, Go's order of writing
    host_override: str  # req.Host (from a user Host header), "" for the URL's host
    user_agent: str  # "" writes no User-Agent line


def _escape(text: str, safe: str) -> str:
    return quote(text, safe=safe) if text else text


def _target_from_path(path: str) -> tuple[str, bytes]:
    """(URL suffix, request-target) for a probe `path`, which may carry a query string.

    url.Parse keeps `?query` (pkg/probe/http/request.go formatURL) and drops
    nothing else; characters not allowed in a URL are percent-encoded."""
    rest, hash_, fragment = path.partition("#")
    raw_path, qmark, query = rest.partition("?")
    p = _escape(raw_path, _PATH_SAFE)
    if p and not p.startswith("/"):
        p = "/" + p  # URL.String() inserts the slash between host and a relative path
    q = qmark + _escape(query, _QUERY_SAFE)
    suffix = p + q + (hash_ + _escape(fragment, _QUERY_SAFE) if hash_ else "")
    return suffix, ((p or "/") + q).encode("ascii")


def _split_netloc(netloc: str, scheme: str) -> tuple[str, int]:
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = hostport.partition(":")
    if not port_text:
        return host, _DEFAULT_PORTS.get(scheme, 0)
    if not port_text.isdigit() or int(port_text) > 65535:
        raise ClientError(f"invalid port {go_quote(':' + port_text)} after host")
    return host, int(port_text)


def parse_target(url: str) -> _Target:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    hostname, port = _split_netloc(parts.netloc, scheme)
    _, target = _target_from_path(parts.path + ("?" + parts.query if parts.query else ""))
    return _Target(url, scheme, hostname, port, parts.netloc.rpartition("@")[2], target)


@functools.lru_cache(maxsize=1024)
def initial_request(
    scheme: str,
    host: str,
    port: int,
    path: str,
    headers: tuple[tuple[str, str], ...],
    user_agent: str,
) -> Request:
    """The probe's first request, built once per distinct probe (the newest
    prober caches it too: `httpProberAction`)."""
    netloc = join_host_port(host, port)
    suffix, target = _target_from_path(path)
    url = f"{scheme}://{netloc}{suffix}"
    merged: dict[str, list[str]] = {}
    for name, value in headers:  # v1HeaderToHTTPHeader: Header.Add
        merged.setdefault(canonical_header_key(name), []).append(value)
    # newProbeRequest: User-Agent and Accept unless the user gave them; an empty Accept removes it.
    agent = merged["User-Agent"][0] if "User-Agent" in merged else user_agent
    if "Accept" not in merged:
        merged["Accept"] = ["*/*"]
    elif merged["Accept"][0] == "":
        del merged["Accept"]
    host_override = merged.get("Host", [""])[0]  # req.Host = headers.Get("Host")
    return Request(
        _Target(url, scheme, host, port, netloc, target),
        _header_lines(merged),
        host_override,
        agent,
    )


def _header_lines(merged: dict[str, list[str]]) -> tuple[tuple[str, str], ...]:
    """The headers after Host and User-Agent, as Go's `Header.write` emits them: sorted by key."""
    lines: list[tuple[str, str]] = []
    for name in sorted(merged):
        if name in ("Host", "User-Agent"):
            continue
        for value in merged[name]:
            lines.append((name, value))
    return tuple(lines)


@functools.lru_cache(maxsize=1024)
def validate(request: Request) -> None:
    """net/http Transport.roundTrip checks every header before sending (cached: the
    exception escapes the cache, so only valid requests are remembered)."""
    for name, value in request.headers:
        if not _TOKEN.fullmatch(name):
            raise ClientError(f"net/http: invalid header field name {go_quote(name)}")
        if _BAD_VALUE.search(value):
            raise ClientError(f"net/http: invalid header field value for {go_quote(name)}")
    if _BAD_VALUE.search(request.user_agent):
        raise ClientError('net/http: invalid header field value for "User-Agent"')
    if _BAD_VALUE.search(request.host_override) or " " in request.host_override:
        raise ClientError("http: invalid Host header")


@functools.lru_cache(maxsize=1024)
def h11_request(request: Request) -> h11.Request:
    """The h11 event for `request`, validated once and reused (h11 events are immutable).

    Values go out as UTF-8 bytes, as Go writes a header string's bytes."""
    host = request.host_override or request.target.netloc
    lines = [(b"Host", host.encode())]
    if request.user_agent:
        lines.append((b"User-Agent", request.user_agent.strip(" \t").encode()))
    lines.extend((name.encode(), value.strip(" \t").encode()) for name, value in request.headers)
    lines.append((b"Connection", b"close"))  # DisableKeepAlives: true
    try:
        return h11.Request(method=b"GET", target=request.target.target, headers=lines)
    except h11.LocalProtocolError as err:
        raise ClientError(f"net/http: invalid request: {err}") from None


def redirect_request(first: Request, previous: Request, location: str, url: str) -> Request:
    """The next request of a followed redirect, as Go's `Client.Do` builds it:
    the first request's headers, plus a Referer; a custom Host header kept only
    for a relative Location (Go issue 22233)."""
    target = parse_target(url)
    host_override = first.host_override if not urlsplit(location).scheme else ""
    headers = first.headers
    if not (previous.target.scheme == "https" and target.scheme == "http"):
        explicit = next((v for k, v in first.headers if k == "Referer"), "")
        referer = explicit or previous.target.url
        merged: dict[str, list[str]] = {}
        for name, value in first.headers:
            merged.setdefault(name, []).append(value)
        merged["Referer"] = [referer]
        headers = _header_lines(merged)
    return Request(target, headers, host_override, first.user_agent)
