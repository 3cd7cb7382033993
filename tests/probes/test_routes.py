"""Verification through the route: requests go to the Traefik address with the route's host name (Host header, SNI).

The servers here are a test double for Traefik's routing decision only (an answer per Host header); the real Traefik
routes the stand-in's deploys in tests/engine/test_routes.py and the conformance suite."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from probes.routes import RouteCheckFailed, health_url, verify_routes

ROUTE = {"host": "api.example.test", "path": "/", "port": 8001, "https": False, "certificate": "none", "cert_resolver": "",
         "health": "/health"}


class HostRouter:
    """Answers each request by its Host header (what Traefik decides from a router's rule), recording what it was asked."""

    def __init__(self, answers: dict[str, tuple[int, str]], tls: tuple[Path, Path] | None = None) -> None:
        self.answers = answers
        self.seen: list[tuple[str, str, str | None]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host = self.headers.get("Host", "")
                sni = getattr(self.connection, "sni", None)
                outer.seen.append((host, self.path, sni))
                status, body = outer.answers.get(f"{host}{self.path}", (404, "404 page not found\n"))
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))

            def remember(sock: ssl.SSLSocket, name: str | None, _ctx: ssl.SSLContext) -> None:
                sock.sni = name  # type: ignore[attr-defined]

            context.sni_callback = remember
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def web() -> Iterator[HostRouter]:
    router = HostRouter({"api.example.test/health": (200, '{"status":"ok"}')})
    yield router
    router.close()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
                    "-subj", "/CN=api.example.test", "-addext", "subjectAltName=DNS:api.example.test"], check=True, capture_output=True)
    return cert, key


def test_a_route_is_asked_at_traefik_with_its_host_name_and_recorded(web: HostRouter) -> None:
    checks = verify_routes({"brain-api": ROUTE}, {"web": web.url, "websecure": "https://127.0.0.1:1"}, timeout=2, interval=0.01)
    assert checks["brain-api"]["url"] == "http://api.example.test/health" and checks["brain-api"]["status"] == 200
    assert checks["brain-api"]["through"] == web.url and "certificate" not in checks["brain-api"]
    assert web.seen == [("api.example.test", "/health", None)]  # never looked up in DNS: .test names resolve nowhere
    assert health_url({**ROUTE, "path": "/v1", "https": True}) == "https://api.example.test/v1/health"


def test_a_route_traefik_does_not_know_fails_saying_what_was_asked_and_what_it_means(web: HostRouter) -> None:
    other = {**ROUTE, "host": "portal.example.test", "health": "/api/health"}
    with pytest.raises(RouteCheckFailed) as err:
        verify_routes({"client-portal": other}, {"web": web.url, "websecure": "https://127.0.0.1:1"}, timeout=0.3, interval=0.05)
    text = str(err.value)
    assert text.startswith("route check failed after 0.3s (through Traefik, as a browser would reach the service):")
    assert f"client-portal: GET http://portal.example.test/api/health through {web.url} (Host: portal.example.test): " \
           "answered HTTP 404 '404 page not found': Traefik has no router for this host and path" in text
    assert len(web.seen) >= 2  # asked again until the deadline


def test_nothing_listening_and_an_unhealthy_service_are_told_apart(web: HostRouter) -> None:
    web.answers["api.example.test/health"] = (502, "Bad Gateway")
    with pytest.raises(RouteCheckFailed, match="Traefik has the route but cannot reach the service on port 8001"):
        verify_routes({"brain-api": ROUTE}, {"web": web.url, "websecure": "https://127.0.0.1:1"}, timeout=0.1, interval=0.05)
    with pytest.raises(RouteCheckFailed, match=r"no HTTP answer \(.*\): is Dokploy's Traefik listening there"):
        verify_routes({"brain-api": ROUTE}, {"web": "http://127.0.0.1:1", "websecure": "https://127.0.0.1:1"}, timeout=0.1, interval=0.05)


def test_an_https_route_goes_to_websecure_with_its_sni_and_a_certificate_not_trusted_yet_does_not_fail_it(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    secure = HostRouter({"api.example.test/health": (200, "ok")}, tls=certificate)
    try:
        route = {**ROUTE, "https": True, "certificate": "letsencrypt"}
        traefik = {"web": "http://127.0.0.1:1", "websecure": secure.url}
        checks = verify_routes({"brain-api": route}, traefik, timeout=2, interval=0.01)
        assert checks["brain-api"]["status"] == 200 and checks["brain-api"]["through"] == secure.url
        assert checks["brain-api"]["certificate"].startswith("not valid for api.example.test")
        assert ("api.example.test", "/health", "api.example.test") in secure.seen  # the route's host name as SNI, not the address
        monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # a CA the runner trusts (a local one in tests)
        assert verify_routes({"brain-api": route}, traefik, timeout=2, interval=0.01)["brain-api"]["certificate"] == "valid"
    finally:
        secure.close()


def test_no_routes_or_no_traefik_checks_nothing() -> None:
    assert verify_routes({}, {"web": "http://127.0.0.1:1", "websecure": "https://127.0.0.1:1"}) == {}
    assert verify_routes({"brain-api": ROUTE}, {}) == {}
