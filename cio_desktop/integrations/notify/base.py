"""What every transport takes and raises."""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass, field

from cio_desktop.errors import CioError


@dataclass(frozen=True)
class OutgoingMessage:
    subject: str
    body: str
    severity: str = "info"
    panel: str = "alerts"
    ref: str = ""
    #: (file name, MIME type, bytes) — e.g. the daily summary PDF once a renderer is registered
    attachments: tuple[tuple[str, str, bytes], ...] = field(default_factory=tuple)


class DeliveryFailed(CioError):
    """A message could not be delivered. ``retryable``: a later attempt may succeed (server
    unreachable, 5xx); not retryable: fix the settings first (bad address, rejected key)."""

    def __init__(self, channel: str, message: str, *, retryable: bool) -> None:
        super().__init__(f"{channel}: {message}")
        self.channel = channel
        self.retryable = retryable


class ChannelUnavailable(DeliveryFailed):
    """The channel does not exist here (no desktop session for a headless scheduler): the
    delivery is recorded as ``skipped``, not as a failing channel that needs an alert."""

    def __init__(self, channel: str, message: str) -> None:
        super().__init__(channel, message, retryable=False)


_CONTEXTS: dict[tuple[str, str, float], "ssl.SSLContext"] = {}
_CONTEXTS_LOCK = threading.Lock()


def client_tls(purpose: str, ca_file: str = "") -> "ssl.SSLContext":
    """A verifying TLS 1.2+ client context (``integrations.http.tls``), built once per CA file:
    loading the system trust store costs ~80 ms, too much to pay for every message."""
    import os

    from cio_desktop.integrations.http.tls import build_ssl_context

    mtime = os.path.getmtime(ca_file) if ca_file and os.path.exists(ca_file) else 0.0
    key = (purpose, ca_file, mtime)
    with _CONTEXTS_LOCK:
        ctx = _CONTEXTS.get(key)
    if ctx is None:
        ctx = build_ssl_context(connection=purpose, ca_bundle_path=ca_file or None)
        with _CONTEXTS_LOCK:
            _CONTEXTS[key] = ctx
    return ctx
