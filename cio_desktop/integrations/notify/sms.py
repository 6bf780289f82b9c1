"""SMS through an HTTP gateway: ``POST <url>`` with a JSON body ``{"to", "from", "text"}`` and
the API key as a bearer token, over verified TLS 1.2+ (plain ``http://`` only for 127.0.0.1).

Answers: 2xx sent; 401/403 the key was rejected (not retried); 400/422 the number or text was
refused (not retried); 429 and 5xx and network errors are retried later.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from cio_desktop.domain.alerting import check_phone
from cio_desktop.errors import ValidationError
from cio_desktop.integrations.notify.base import DeliveryFailed, OutgoingMessage, client_tls

CHANNEL = "sms"
MAX_TEXT = 459   # three concatenated GSM segments


@dataclass(frozen=True)
class SmsSettings:
    url: str
    api_key: str = ""
    sender: str = "CIO"
    ca_file: str = ""
    timeout: float = 15.0


def check_gateway_url(url: str) -> str:
    parts = urlsplit(url or "")
    local = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme not in ("https", "http") or not parts.hostname or (parts.scheme == "http" and not local):
        raise ValueError(f"the SMS gateway URL '{url}' must be an https:// address")
    return url


def sms_text(message: OutgoingMessage) -> str:
    text = f"[{message.severity.upper()}] {message.subject}"
    if message.body:
        text += f" - {message.body.splitlines()[0]}"
    return text[:MAX_TEXT]


class SmsTransport:
    def __init__(self, settings: SmsSettings) -> None:
        try:
            check_gateway_url(settings.url)
        except ValueError as exc:
            raise DeliveryFailed(CHANNEL, str(exc), retryable=False) from None
        if not settings.api_key:
            raise DeliveryFailed(CHANNEL, "no API key for the SMS gateway is configured", retryable=False)
        self.settings = settings

    def send(self, to: str, message: OutgoingMessage) -> None:
        try:
            to = check_phone(to)
        except ValueError as exc:
            raise DeliveryFailed(CHANNEL, str(exc), retryable=False) from None
        s = self.settings
        verify: object = True
        if s.url.startswith("https://"):
            try:
                verify = client_tls("SMS gateway", s.ca_file)
            except ValidationError as exc:
                raise DeliveryFailed(CHANNEL, str(exc), retryable=False) from None
        try:
            with httpx.Client(timeout=s.timeout, verify=verify) as client:  # type: ignore[arg-type]
                r = client.post(s.url, json={"to": to, "from": s.sender, "text": sms_text(message)},
                                headers={"Authorization": f"Bearer {s.api_key}"})
        except httpx.TimeoutException:
            raise DeliveryFailed(CHANNEL, "the SMS gateway did not answer in time", retryable=True) from None
        except httpx.HTTPError as exc:
            raise DeliveryFailed(CHANNEL, f"cannot reach the SMS gateway ({exc.__class__.__name__}: {exc})",
                                 retryable=True) from None
        if 200 <= r.status_code < 300:
            return
        detail = r.text.strip()[:200]
        if r.status_code in (401, 403):
            raise DeliveryFailed(CHANNEL, f"the SMS gateway rejected the API key (HTTP {r.status_code})",
                                 retryable=False)
        if r.status_code in (400, 404, 422):
            raise DeliveryFailed(CHANNEL, f"the SMS gateway refused the message to {to} "
                                 f"(HTTP {r.status_code}: {detail})", retryable=False)
        raise DeliveryFailed(CHANNEL, f"the SMS gateway answered HTTP {r.status_code} {detail}",
                             retryable=r.status_code == 429 or r.status_code >= 500)
