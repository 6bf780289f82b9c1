"""An HTTPS JSON client for bank, accounting and investment-platform APIs.

``ApiClient`` wraps one pooled ``httpx.Client`` per connection:

- **TLS**: verification always on (system CAs + certifi + the connection's optional CA bundle),
  TLS 1.2 minimum, hostname checking, optional client certificate (mutual TLS). Plain
  ``http://`` is refused unless the host is loopback *and* ``allow_insecure_loopback=True``.
- **Authentication**: none, API key header, or OAuth2 client credentials (see ``auth``): the
  token is cached, fetched again shortly before it expires, and once more after a 401; a
  second 401 raises ``ConnectionFailed(status=401)``.
- **Retries** (``domain.retry``): timeouts, connection errors, HTTP 408/429/5xx are retried with
  exponential backoff (``Retry-After`` seconds or HTTP-date honoured up to the policy cap);
  other 4xx, TLS verification failures and malformed JSON fail at once.
- **Errors**: always ``ConnectionFailed`` (or ``ValidationError`` for a bad configuration), the
  message naming the connection, the method and URL path, and the HTTP status — never a
  secret, never the host's credentials. ``retryable`` tells the caller whether a later sync
  may succeed; ``status`` carries the HTTP status when there was one.
- **JSON**: numbers with a fraction are parsed as ``Decimal`` (never float), ``NaN``/``Infinity``
  are refused as malformed.
- Redirects are not followed (a redirect could carry the token elsewhere); links the server
  sends (pagination) are followed only on the connection's own origin.

The client is meant to be used from one worker thread at a time (token fetching is locked).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Mapping
from urllib.parse import urljoin

import httpx

from cio_desktop import __version__
from cio_desktop.domain.retry import BackoffPolicy, retry_call
from cio_desktop.errors import ConnectionFailed, ValidationError
from cio_desktop.integrations.http.auth import ApiKeyAuth, Auth, OAuth2ClientCredentials
from cio_desktop.integrations.http.tls import build_ssl_context, describe_tls_failure

log = logging.getLogger(__name__)

KINDS = ("banking", "accounting", "investment")
AUTH_KINDS = ("oauth2", "api_key", "client_cert", "none")
RETRYABLE_STATUSES = {408, 425, 429, 500, 502, 503, 504}
MAX_DETAIL = 200

Params = Mapping[str, Any] | None


@dataclass(frozen=True)
class ConnectionConfig:
    """Everything about a connection except its secrets (those are in ``Credentials``)."""

    name: str
    kind: str                              # banking | accounting | investment
    base_url: str                          # https://api.bank.example/psd2  (paths are appended)
    auth_kind: str = "none"                # oauth2 | api_key | client_cert | none
    token_url: str = ""                    # OAuth2 token endpoint (absolute URL)
    client_id: str = ""
    scope: str = ""
    api_key_header: str = "X-API-Key"
    client_cert_path: str | None = None    # PEM; used with any auth_kind when set (mTLS + OAuth2)
    client_key_path: str | None = None     # PEM, may be encrypted (passphrase in Credentials)
    ca_bundle_path: str | None = None      # extra trusted CA(s) for a private bank endpoint
    timeout: float = 30.0                  # seconds, for connect, read, write and pool waits
    page_size: int = 100                   # sent as pageSize by adapters whose APIs accept it
    token_auth_method: str = "basic"       # basic (client_secret_basic) | post (client_secret_post)
    #: fixed non-secret headers the API wants on every request, e.g. (("Consent-ID", "…"),)
    extra_headers: tuple[tuple[str, str], ...] = ()

    def validate(self, *, allow_insecure_loopback: bool = False,
                 insecure_hosts: frozenset[str] = frozenset()) -> None:
        """Raise ``ValidationError(source=name, field=…)`` for anything unusable."""
        src = f"connection '{self.name}'" if self.name else "connection"
        if not self.name.strip():
            raise ValidationError("a connection needs a name", source=src, field="name")
        if self.kind not in KINDS:
            raise ValidationError(f"kind must be one of {', '.join(KINDS)}", source=src, field="kind")
        if self.auth_kind not in AUTH_KINDS:
            raise ValidationError(f"auth_kind must be one of {', '.join(AUTH_KINDS)}", source=src,
                                  field="auth_kind")
        check_url(self.base_url, src, "base_url", allow_insecure_loopback, insecure_hosts)
        if self.auth_kind == "oauth2":
            if not self.token_url:
                raise ValidationError("OAuth2 needs a token URL", source=src, field="token_url")
            check_url(self.token_url, src, "token_url", allow_insecure_loopback, insecure_hosts)
            if not self.client_id:
                raise ValidationError("OAuth2 needs a client id", source=src, field="client_id")
            if self.token_auth_method not in ("basic", "post"):
                raise ValidationError("token_auth_method must be 'basic' or 'post'", source=src,
                                      field="token_auth_method")
        if self.auth_kind == "api_key" and not _is_header_name(self.api_key_header):
            raise ValidationError(f"'{self.api_key_header}' is not a valid header name", source=src,
                                  field="api_key_header")
        if self.auth_kind == "client_cert" and not self.client_cert_path:
            raise ValidationError("client certificate authentication needs a certificate file",
                                  source=src, field="client_cert_path")
        if not (isinstance(self.timeout, (int, float)) and 0 < self.timeout <= 600):
            raise ValidationError("the timeout must be between 0 and 600 seconds", source=src, field="timeout")
        for header, _value in self.extra_headers:
            if not _is_header_name(header):
                raise ValidationError(f"'{header}' is not a valid header name", source=src,
                                      field="extra_headers")
        if not (isinstance(self.page_size, int) and 1 <= self.page_size <= 10_000):
            raise ValidationError("the page size must be between 1 and 10000", source=src, field="page_size")


@dataclass(frozen=True, repr=False)
class Credentials:
    """Secrets for one connection, read from the OS keyring by the caller. ``repr`` hides them."""

    client_secret: str = field(default="")
    api_key: str = field(default="")
    key_passphrase: str = field(default="")

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={'***' if getattr(self, name) else '<none>'}"
                          for name in ("client_secret", "api_key", "key_passphrase"))
        return f"Credentials({shown})"

    __str__ = __repr__


def _is_header_name(name: str) -> bool:
    return bool(name) and all(c.isalnum() or c in "!#$%&'*+-.^_`|~" for c in name)


def is_loopback(host: str) -> bool:
    return host.lower().strip("[]") in {"127.0.0.1", "localhost", "::1"}


def check_url(url: str, source: str, field_name: str, allow_insecure_loopback: bool = False,
              insecure_hosts: frozenset[str] = frozenset()) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except Exception:  # noqa: BLE001 — httpx.InvalidURL and friends
        raise ValidationError(f"'{url}' is not a valid URL", source=source, field=field_name) from None
    if not parsed.host:
        raise ValidationError(f"'{url}' has no host name", source=source, field=field_name)
    if parsed.userinfo:
        raise ValidationError("user names and passwords do not belong in the URL; use the connection's "
                              "credentials", source=source, field=field_name)
    if parsed.scheme == "https":
        return parsed
    if parsed.scheme == "http":
        if is_loopback(parsed.host) and allow_insecure_loopback:
            return parsed
        from cio_desktop.security.tls import insecure_allowed

        if insecure_allowed(parsed.host, insecure_hosts):  # the user named this host (caller audits)
            return parsed
        raise ValidationError(f"plain http:// is refused for '{parsed.host}': use https:// (TLS), or add "
                              f"'{parsed.host}' to the setting allow_insecure_hosts (audited)",
                              source=source, field=field_name)
    raise ValidationError(f"unsupported URL scheme '{parsed.scheme}': use https://", source=source,
                          field=field_name)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds from ``now``: delta-seconds or an HTTP-date; None if absent/unreadable."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - now).total_seconds())


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads_exact(content: bytes | str) -> Any:
    """JSON with Decimal for every number that has a fraction or exponent; NaN/Infinity refused."""
    return json.loads(content, parse_float=Decimal, parse_constant=_refuse_constant)


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, ConnectionFailed) and exc.retryable


def _fail(message: str, connection: str, *, status: int | None = None, retryable: bool = False,
          retry_after: float | None = None) -> ConnectionFailed:
    err = ConnectionFailed(message, connection=connection, status=status, retryable=retryable,
                           retry_after=retry_after)
    err.detail = message  # type: ignore[attr-defined] — the message without the connection prefix
    return err


class ApiClient:
    """One connection's HTTP client. Use as a context manager or call ``close()``."""

    def __init__(self, config: ConnectionConfig, credentials: Credentials | None = None, *,
                 policy: BackoffPolicy | None = None, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None, transport: httpx.BaseTransport | None = None,
                 allow_insecure_loopback: bool = False, clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 insecure_hosts: frozenset[str] = frozenset()) -> None:
        config.validate(allow_insecure_loopback=allow_insecure_loopback, insecure_hosts=insecure_hosts)
        credentials = credentials or Credentials()
        self.config = config
        self.name = config.name
        self.policy = policy or BackoffPolicy()
        self._sleep, self._rng, self._now = sleep, rng or random.Random(), now
        self._base = httpx.URL(config.base_url)
        self._lock = threading.Lock()
        src = f"connection '{config.name}'"
        verify: Any = True
        from cio_desktop.security.tls import insecure_allowed

        #: the host whose plain-text/unverified use the user allowed by name: the caller audits it
        #: (services.team.record_insecure_use); None for a normal, verified connection
        self.insecure_host: str | None = (self._base.host if insecure_allowed(self._base.host, insecure_hosts)
                                          else None)
        if transport is None and self.insecure_host is not None:
            verify = False
        elif transport is None:
            verify = build_ssl_context(connection=src, ca_bundle_path=config.ca_bundle_path,
                                       client_cert_path=config.client_cert_path,
                                       client_key_path=config.client_key_path,
                                       key_passphrase=credentials.key_passphrase or None)
        self._http = httpx.Client(
            verify=verify, transport=transport, follow_redirects=False, trust_env=False,
            timeout=httpx.Timeout(config.timeout),
            limits=httpx.Limits(max_connections=10, max_keepalive_connections=5, keepalive_expiry=30.0),
            headers={"Accept": "application/json", "User-Agent": f"CIO-Desktop/{__version__}",
                     **dict(config.extra_headers)})
        self.auth: Auth
        if config.auth_kind == "oauth2":
            if not credentials.client_secret:
                raise ValidationError("no client secret is stored for this connection", source=src,
                                      field="client_secret")
            self.auth = OAuth2ClientCredentials(
                connection=config.name, token_url=config.token_url, client_id=config.client_id,
                client_secret=credentials.client_secret, scope=config.scope,
                method=config.token_auth_method, post_form=self._post_form, clock=clock)
        elif config.auth_kind == "api_key":
            if not credentials.api_key:
                raise ValidationError("no API key is stored for this connection", source=src, field="api_key")
            self.auth = ApiKeyAuth(config.api_key_header, credentials.api_key)
        else:
            self.auth = Auth()
        self.requests = 0   # HTTP requests sent (including token requests and retries)

    def __repr__(self) -> str:
        return f"ApiClient(name={self.name!r}, base_url={self.config.base_url!r}, auth={self.auth!r})"

    # -- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "ApiClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- URLs -------------------------------------------------------------------------------
    def url_for(self, path_or_url: str | httpx.URL) -> httpx.URL:
        """``/v1/accounts`` → base URL + path; an absolute URL must be on the connection's origin."""
        text = str(path_or_url)
        if "://" in text:
            url = httpx.URL(text)
            if not self.same_origin(url):
                raise _fail(f"the server pointed to another site ({url.scheme}://{url.host}); refusing "
                            f"to send this connection's credentials there", self.name)
            return url
        return httpx.URL(str(self._base).rstrip("/") + "/" + text.lstrip("/"))

    def resolve_link(self, href: str, current: str | httpx.URL) -> httpx.URL:
        """A link from a response (``_links.next.href``), relative to the page it came from."""
        return self.url_for(urljoin(str(current), href))

    def same_origin(self, url: httpx.URL) -> bool:
        def origin(u: httpx.URL) -> tuple[str, str, int | None]:
            default = {"https": 443, "http": 80}.get(u.scheme)
            return u.scheme, u.host.lower(), u.port or default
        return origin(url) == origin(self._base)

    @staticmethod
    def display(url: httpx.URL | str) -> str:
        """Path and query of a URL, for messages (no scheme, host or credentials)."""
        u = httpx.URL(str(url))
        return u.raw_path.decode("ascii", "replace")

    # -- requests ---------------------------------------------------------------------------
    def get_json(self, path: str | httpx.URL, params: Params = None) -> Any:
        """GET ``path`` (relative to the base URL, or an absolute URL on the same origin) and
        return the decoded JSON, retrying transient failures per the policy."""
        url = self.url_for(path)
        if params:
            url = url.copy_merge_params({k: _param(v) for k, v in params.items() if v is not None})
        shown = self.display(url)
        attempts = 0

        def attempt() -> Any:
            nonlocal attempts
            attempts += 1
            return self._get_once(url, shown)

        def on_retry(k: int, exc: BaseException, wait: float) -> None:
            log.warning("%s: %s — retry %d of %d in %.1f s", self.name, getattr(exc, "detail", exc), k,
                        self.policy.max_attempts - 1, wait)

        try:
            return retry_call(attempt, self.policy, sleep=self._sleep, rng=self._rng,
                              is_retryable=_is_retryable, on_retry=on_retry)
        except ConnectionFailed as exc:
            if exc.retryable and attempts > 1:
                raise _fail(f"{getattr(exc, 'detail', exc)} (gave up after {attempts} attempts)", self.name,
                            status=exc.status, retryable=True, retry_after=exc.retry_after) from None
            raise

    def _get_once(self, url: httpx.URL, shown: str) -> Any:
        response = self._send("GET", url, shown, headers=self.auth.headers())
        if response.status_code == 401 and self.auth.can_refresh:
            log.info("%s: GET %s answered 401; fetching a new access token", self.name, shown)
            self.auth.invalidate()
            response = self._send("GET", url, shown, headers=self.auth.headers())
        if response.status_code == 401:
            raise _fail(f"{self.auth.describe_refusal()} [GET {shown}, HTTP 401]", self.name, status=401)
        self._raise_for_status(response, "GET", shown)
        try:
            return loads_exact(response.content)
        except ValueError as exc:
            raise _fail(f"the server sent malformed JSON (page {shown}): {exc}", self.name,
                        status=response.status_code) from None

    def _post_form(self, url: str, form: dict[str, str], headers: dict[str, str]) -> httpx.Response:
        """For the token request: transport errors and 408/429/5xx raise; 2xx/4xx are returned."""
        target = httpx.URL(url)
        shown = self.display(target)
        response = self._send("POST", target, shown, headers=headers, data=form)
        if response.status_code in RETRYABLE_STATUSES or response.status_code >= 500:
            self._raise_for_status(response, "POST", shown)
        return response

    def _send(self, method: str, url: httpx.URL, shown: str, *, headers: Mapping[str, str],
              data: Mapping[str, str] | None = None) -> httpx.Response:
        with self._lock:
            self.requests += 1
        request_id = str(uuid.uuid4())   # Berlin Group requires X-Request-ID; useful for bank support anyway
        try:
            response = self._http.request(method, url, headers={**headers, "X-Request-ID": request_id},
                                          data=data)
        except httpx.TimeoutException as exc:
            raise _fail(f"{method} {shown}: no answer within {self.config.timeout:g} s "
                        f"({type(exc).__name__})", self.name, retryable=True) from None
        except httpx.TransportError as exc:
            tls = describe_tls_failure(exc)
            if tls is not None:
                text, retryable = tls
                raise _fail(f"{method} {shown}: {text}", self.name, retryable=retryable) from None
            if isinstance(exc, httpx.ConnectError):
                raise _fail(f"{method} {shown}: could not connect to {url.host}:{url.port or 443} "
                            f"({_short(exc)})", self.name, retryable=True) from None
            if isinstance(exc, httpx.UnsupportedProtocol):
                raise _fail(f"{method} {shown}: unsupported protocol ({_short(exc)})", self.name) from None
            raise _fail(f"{method} {shown}: the connection broke ({type(exc).__name__}: {_short(exc)})",
                        self.name, retryable=True) from None
        log.debug("%s: %s %s → %s (X-Request-ID %s)", self.name, method, shown, response.status_code,
                  request_id)
        return response

    def _raise_for_status(self, response: httpx.Response, method: str, shown: str) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        reason = response.reason_phrase or ""
        detail = _server_detail(response)
        where = f"[{method} {shown}, HTTP {status}{' ' + reason if reason else ''}]"
        if status in RETRYABLE_STATUSES or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self._now())
            what = {429: "the server is rate-limiting requests", 503: "the service is unavailable",
                    408: "the server timed out"}.get(status, "server error")
            raise _fail(f"{what}{': ' + detail if detail else ''} {where}", self.name, status=status,
                        retryable=True, retry_after=retry_after)
        if 300 <= status < 400:
            raise _fail(f"unexpected redirect to {response.headers.get('Location', '?')} {where}",
                        self.name, status=status)
        what = {403: "access denied", 404: "not found", 400: "the server rejected the request"}.get(
            status, "request refused")
        raise _fail(f"{what}{': ' + detail if detail else ''} {where}", self.name, status=status)

    # -- diagnostics ------------------------------------------------------------------------
    def test_connection(self) -> str:
        """A quick read appropriate to the connection's kind: ``"OK: 3 accounts"`` or ConnectionFailed."""
        from cio_desktop.integrations.adapters import adapter_for

        return adapter_for(self).test_connection()


def _param(value: Any) -> str:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= MAX_DETAIL else text[:MAX_DETAIL] + "…"


def _server_detail(response: httpx.Response) -> str:
    """A short explanation from the error body (Berlin Group tppMessages, RFC 7807, OAuth style)."""
    try:
        body = loads_exact(response.content)
    except ValueError:
        ctype = response.headers.get("Content-Type", "")
        if ctype.startswith("text/plain"):
            text = " ".join(response.text.split())
            return text[:MAX_DETAIL]
        return ""
    parts: list[str] = []
    if isinstance(body, dict):
        for msg in body.get("tppMessages") or []:
            if isinstance(msg, dict):
                parts.append(" ".join(str(msg[k]) for k in ("code", "text") if msg.get(k)))
        for key in ("error_description", "message", "detail", "title", "error"):
            if isinstance(body.get(key), str) and body[key]:
                parts.append(body[key])
                break
    text = "; ".join(p for p in parts if p)
    return text[:MAX_DETAIL]
