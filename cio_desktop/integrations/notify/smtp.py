"""E-mail over SMTP with STARTTLS: certificate verified, TLS 1.2 or later, never plain text.

The server must offer STARTTLS; a server that does not is refused (credentials and alert
contents never travel unencrypted). Implicit TLS (port 465) is supported with ``implicit_tls``.
A private CA (tests, in-house relays) is trusted with ``ca_file``.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from cio_desktop.domain.alerting import check_email
from cio_desktop.errors import ValidationError
from cio_desktop.integrations.http.tls import describe_tls_failure
from cio_desktop.integrations.notify.base import DeliveryFailed, OutgoingMessage, client_tls

CHANNEL = "email"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    sender: str = ""
    username: str = ""
    password: str = ""          # from the field-encrypted store, never logged
    ca_file: str = ""
    implicit_tls: bool = False
    timeout: float = 15.0

    def describe(self) -> str:
        return f"{self.host}:{self.port}"


def build_message(settings: SmtpSettings, to: str, message: OutgoingMessage) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = to
    msg["Subject"] = message.subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or "cio-desktop")
    msg["X-CIO-Severity"] = message.severity
    msg.set_content(message.body)
    for name, mime, data in message.attachments:
        maintype, _, subtype = mime.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream", filename=name)
    return msg


class SmtpTransport:
    def __init__(self, settings: SmtpSettings) -> None:
        if not settings.host:
            raise DeliveryFailed(CHANNEL, "no SMTP server is configured", retryable=False)
        try:
            check_email(settings.sender)
        except ValueError as exc:
            raise DeliveryFailed(CHANNEL, f"sender address: {exc}", retryable=False) from None
        self.settings = settings

    def _context(self) -> ssl.SSLContext:
        return client_tls("SMTP server", self.settings.ca_file)

    def send(self, to: str, message: OutgoingMessage) -> None:
        try:
            to = check_email(to)
        except ValueError as exc:
            raise DeliveryFailed(CHANNEL, str(exc), retryable=False) from None
        s = self.settings
        where = s.describe()
        try:
            context = self._context()
            if s.implicit_tls:
                client: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
            else:
                client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            with client:
                if not s.implicit_tls:
                    client.ehlo()
                    if not client.has_extn("starttls"):
                        raise DeliveryFailed(CHANNEL, f"the SMTP server {where} does not offer STARTTLS; "
                                             "refusing to send e-mail unencrypted", retryable=False)
                    client.starttls(context=context)
                    client.ehlo()
                if s.username:
                    client.login(s.username, s.password)
                refused = client.send_message(build_message(s, to, message))
                if refused:
                    raise DeliveryFailed(CHANNEL, f"the server refused the recipient {to}", retryable=False)
        except DeliveryFailed:
            raise
        except ValidationError as exc:  # the CA file setting
            raise DeliveryFailed(CHANNEL, str(exc), retryable=False) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryFailed(CHANNEL, f"the SMTP server {where} rejected the user name or password "
                                 f"({exc.smtp_code})", retryable=False) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = ", ".join(f"{code}" for code, _ in exc.recipients.values())
            raise DeliveryFailed(CHANNEL, f"the server refused the recipient {to} ({codes})",
                                 retryable=False) from None
        except smtplib.SMTPResponseException as exc:
            retry = 400 <= exc.smtp_code < 500
            text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
            raise DeliveryFailed(CHANNEL, f"the SMTP server {where} answered {exc.smtp_code} {text}",
                                 retryable=retry) from None
        except (ssl.SSLError, ssl.CertificateError) as exc:
            described = describe_tls_failure(exc)
            text = described[0] if described else str(exc)
            raise DeliveryFailed(CHANNEL, f"TLS with {where} failed: {text}", retryable=False) from None
        except (socket.timeout, TimeoutError):
            raise DeliveryFailed(CHANNEL, f"the SMTP server {where} did not answer in time",
                                 retryable=True) from None
        except (ConnectionError, OSError, smtplib.SMTPException) as exc:
            raise DeliveryFailed(CHANNEL, f"cannot reach the SMTP server {where} "
                                 f"({exc.__class__.__name__}: {exc})", retryable=True) from None
