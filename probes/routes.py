"""Verification through the route: each public route answers its service's health path through the Dokploy host's Traefik.

From where ``pulumi up`` runs, a request for ``https://api.example.com/health`` is sent to the Traefik entrypoint
the stack names (``traefikUrl``: web for an http route, ``traefikHttpsUrl``: websecure for an https one) with the
route's host name: its ``Host`` header and, over TLS, its SNI, as ``curl --resolve`` does. The host name is never
looked up in DNS, so a route is checked before DNS points at the Dokploy host, and on the Traefik of this Dokploy
only (not on whatever the name resolves to).

Guarantees:

* Every route is polled until it answers 2xx or the deadline passes (``probes.health``'s loop: growing waits,
  nothing waits past the deadline); Traefik registers a router a moment after the container starts (its Swarm
  provider polls every 15 s).
* An https route's certificate is checked against the system's trust store (``SSL_CERT_FILE`` names another): a
  certificate that is not valid for the host does not fail the check (Let's Encrypt issues one only once DNS points
  at the host), it is recorded (``certificate``) and the route is asked again without checking it.
* A failure names every route still failing: what was asked (URL, through which entrypoint), what answered (HTTP
  status and body, or the connection error) and what that answer means for a Traefik in front of Dokploy.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from probes.health import Fetch, HealthCheckFailed, verify_health

__all__ = ["RouteCheckFailed", "Through", "health_url", "verify_routes"]


class RouteCheckFailed(Exception):
    """One or more routes did not answer 2xx through Traefik before the deadline."""


def health_url(route: Mapping[str, Any]) -> str:
    """The URL a browser would open to reach the service's health path through its route."""
    prefix = "" if str(route.get("path") or "/") == "/" else str(route["path"])
    return f"{'https' if route.get('https') else 'http'}://{route['host']}{prefix}{route.get('health') or '/'}"


class Through:
    """A ``probes.health`` fetch that sends each request to a Traefik entrypoint instead of the host DNS would name."""

    def __init__(self, traefik: Mapping[str, str]) -> None:
        self.traefik = dict(traefik)
        self.certificates: dict[str, str] = {}
        """host -> "valid" or why its certificate is not (https routes only)."""

    def entry(self, url: str) -> str:
        return self.traefik["websecure" if url.startswith("https:") else "web"]

    def __call__(self, url: str, timeout: float) -> tuple[int, str]:
        target = urlsplit(url)
        host = target.hostname or ""
        path = target.path or "/"
        entry = urlsplit(self.entry(url))
        https = target.scheme == "https"
        address, port = entry.hostname or "", entry.port or (443 if https else 80)
        if not https:
            return _get(_connect(address, port, timeout), host, path, timeout)
        try:
            answer = _get(_tls(address, port, host, timeout, verify=True), host, path, timeout)
            self.certificates[host] = "valid"
            return answer
        except ssl.SSLCertVerificationError as exc:
            self.certificates[host] = f"not valid for {host}: {exc.verify_message or exc.reason}"
        return _get(_tls(address, port, host, timeout, verify=False), host, path, timeout)


def _connect(address: str, port: int, timeout: float) -> socket.socket:
    return socket.create_connection((address, port), timeout=min(timeout, 5.0))


def _tls(address: str, port: int, host: str, timeout: float, *, verify: bool) -> socket.socket:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    raw = _connect(address, port, timeout)
    try:
        return context.wrap_socket(raw, server_hostname=host)
    except BaseException:
        raw.close()
        raise


def _get(sock: socket.socket, host: str, path: str, timeout: float) -> tuple[int, str]:
    sock.settimeout(timeout)
    conn = http.client.HTTPConnection(host, timeout=timeout)
    conn.sock = sock  # already connected to Traefik: the request goes there, with the route's host name
    try:
        conn.request("GET", path, headers={"Host": host, "User-Agent": "bizosaas-deploy route check", "Connection": "close"})
        resp = conn.getresponse()
        return resp.status, resp.read(4096).decode("utf-8", errors="replace")
    finally:
        conn.close()


def verify_routes(
    routes: Mapping[str, Mapping[str, Any]],
    traefik: Mapping[str, str],
    *,
    timeout: float = 120.0,
    interval: float = 1.0,
    redact: Iterable[str] = (),
    fetch: Fetch | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, dict[str, Any]]:
    """service -> what its route answered through Traefik ({url, through, status, seconds[, certificate]}); raises
    RouteCheckFailed naming every route that did not answer 2xx within ``timeout`` seconds."""
    if not routes or not traefik:
        return {}
    through = Through(traefik)
    urls = {service: health_url(route) for service, route in routes.items()}
    try:
        answered = verify_health(urls, timeout=timeout, interval=interval, fetch=fetch or through, clock=clock, sleep=sleep, redact=redact)
    except HealthCheckFailed as exc:
        lines = [_explain(f.service, f.url, through.entry(f.url), routes[f.service], f.status, f.body, f.error) for f in exc.failures]
        raise RouteCheckFailed(f"route check failed after {timeout:g}s (through Traefik, as a browser would reach the service):\n"
                               + "\n".join(lines)) from None
    out: dict[str, dict[str, Any]] = {}
    for service, result in answered.items():
        host = str(routes[service]["host"])
        record: dict[str, Any] = {"url": result.url, "through": through.entry(result.url), "status": result.status,
                                  "seconds": round(result.elapsed, 3)}
        if host in through.certificates:
            record["certificate"] = through.certificates[host]
        out[service] = record
    return out


def _explain(service: str, url: str, entry: str, route: Mapping[str, Any], status: int | None, body: str, error: str | None) -> str:
    asked = f"  {service}: GET {url} through {entry} (Host: {route['host']})"
    if status is None:
        return f"{asked}: no HTTP answer ({error or 'no answer'}): is Dokploy's Traefik listening there? (traefikUrl / traefikHttpsUrl)"
    answer = f"HTTP {status}" + (f" {body!r}" if body else "")
    if status == 404 and "404 page not found" in body:
        why = ("Traefik has no router for this host and path: the domain's labels are not on a running container of the "
               "service (Dokploy writes them when it deploys), or Traefik does not watch dokploy-network")
    elif status in (502, 503, 504):
        why = f"Traefik has the route but cannot reach the service on port {route.get('port')} over dokploy-network"
    elif 300 <= status < 400:
        why = "a redirect: for an https route, ask websecure (traefikHttpsUrl)"
    else:
        why = f"the service answered, but not 2xx on its health path {route.get('health')}"
    return f"{asked}: answered {answer}: {why}"
