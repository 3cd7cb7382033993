"""Host checks in one place: is an address loopback, and which scheme reaches a registry."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback(host: str | None) -> bool:
    """True for ``localhost``, ``*.localhost`` and loopback IP literals (``127.0.0.0/8``, ``::1``).

    A name that merely starts like one (``localhost.example.com``, ``127.example.com``) is not.
    A port or brackets are allowed: ``127.0.0.1:5000``, ``[::1]:5000``.
    """
    if not host:
        return False
    name = _hostname(host)
    if name in ("localhost",) or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def registry_scheme(host: str) -> str:
    """``http`` for a loopback registry (Docker's default insecure range), ``https`` otherwise."""
    return "http" if is_loopback(host) else "https"


def _hostname(host: str) -> str:
    """The bare, lower-case host name of ``host``, ``host:port``, ``[v6]:port`` or a URL."""
    text = host.strip()
    try:  # a bare IP literal (``::1`` has colons that are not a port)
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        pass
    if "://" not in text:
        text = f"//{text}"
    try:
        name = urlsplit(text).hostname
    except ValueError:
        return ""
    return (name or "").lower()
