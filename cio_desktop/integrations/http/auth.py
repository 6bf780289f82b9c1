"""Request authentication for connections: none, API key header, OAuth2 client credentials.

OAuth2 follows RFC 6749 §4.4: ``POST token_url`` with ``grant_type=client_credentials`` (and
``scope`` when configured), the client authenticating with HTTP Basic (``client_secret_basic``,
id and secret form-urlencoded first as §2.3.1 requires) or with ``client_id``/``client_secret``
form fields (``client_secret_post``). The JSON answer's ``access_token`` is cached until
``expires_in`` minus a safety margin (10 % of the lifetime, at most 30 s), then fetched again;
``invalidate()`` drops it (the client calls it once after a 401).

Secrets live only in the objects' private attributes; they are never logged, never put in an
exception message, and ``repr`` does not show them.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from decimal import Decimal
from typing import Callable
from urllib.parse import quote_plus

import httpx

from cio_desktop.errors import ConnectionFailed

log = logging.getLogger(__name__)

#: (url, form fields, extra headers) → response; transport errors, 5xx and 429 are already raised
#: by the client as retryable ``ConnectionFailed``; 2xx and 4xx come back for interpretation.
PostForm = Callable[[str, dict[str, str], dict[str, str]], httpx.Response]

DEFAULT_LIFETIME = 3600.0   # RFC 6749 makes expires_in optional; assume an hour, a 401 corrects it
MAX_MARGIN = 30.0


class Auth:
    """No authentication (or mutual TLS only, which lives in the TLS context)."""

    kind = "none"
    can_refresh = False

    def headers(self) -> dict[str, str]:
        return {}

    def invalidate(self) -> None:
        pass

    def describe_refusal(self) -> str:
        return "the server requires authentication that this connection does not send"

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ApiKeyAuth(Auth):
    kind = "api_key"

    def __init__(self, header: str, api_key: str) -> None:
        self._header, self._key = header, api_key

    def headers(self) -> dict[str, str]:
        return {self._header: self._key}

    def describe_refusal(self) -> str:
        return f"the server refused the API key (sent in header '{self._header}'); check the key"

    def __repr__(self) -> str:
        return f"ApiKeyAuth(header={self._header!r}, api_key=***)"


class OAuth2ClientCredentials(Auth):
    kind = "oauth2"
    can_refresh = True

    def __init__(self, *, connection: str, token_url: str, client_id: str, client_secret: str,
                 scope: str = "", method: str = "basic", post_form: PostForm,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if method not in ("basic", "post"):
            raise ValueError("token auth method must be 'basic' or 'post'")
        self.connection, self.token_url, self.client_id, self.scope = connection, token_url, client_id, scope
        self.method = method
        self._secret = client_secret
        self._post_form, self._clock = post_form, clock
        self._token: str | None = None
        self._valid_until = 0.0
        self._lock = threading.Lock()
        self.fetches = 0          # how many tokens were fetched (for tests and diagnostics)

    def __repr__(self) -> str:
        return (f"OAuth2ClientCredentials(token_url={self.token_url!r}, client_id={self.client_id!r}, "
                f"client_secret=***)")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def invalidate(self) -> None:
        with self._lock:
            self._token, self._valid_until = None, 0.0

    def describe_refusal(self) -> str:
        return ("the server refused the access token even after a new one was fetched; check the "
                "client id, secret and scope of this connection")

    @property
    def has_valid_token(self) -> bool:
        return self._token is not None and self._clock() < self._valid_until

    def token(self) -> str:
        with self._lock:
            if self._token is not None and self._clock() < self._valid_until:
                return self._token
            token, lifetime = self._fetch()
            margin = min(MAX_MARGIN, lifetime * 0.1)
            self._token, self._valid_until = token, self._clock() + lifetime - margin
            return token

    # -- the token request -----------------------------------------------------------------
    def _fetch(self) -> tuple[str, float]:
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        headers = {"Accept": "application/json"}
        if self.method == "basic":
            pair = f"{quote_plus(self.client_id)}:{quote_plus(self._secret)}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        else:
            form["client_id"] = self.client_id
            form["client_secret"] = self._secret
        self.fetches += 1
        log.info("%s: fetching an OAuth2 access token", self.connection)
        response = self._post_form(self.token_url, form, headers)
        status = response.status_code
        body = _json_or_none(response)
        if status >= 400:
            code = body.get("error") if isinstance(body, dict) else None
            desc = body.get("error_description") if isinstance(body, dict) else None
            what = f"{code}: {desc}" if code and desc else (code or f"HTTP {status}")
            if code in ("invalid_client", "unauthorized_client") or status == 401:
                msg = f"the token endpoint refused the client credentials ({what}); check the client id and secret"
            elif code == "invalid_scope":
                msg = f"the token endpoint refused the scope '{self.scope}' ({what})"
            else:
                msg = f"the token endpoint refused the request ({what})"
            raise ConnectionFailed(f"{msg} [POST {_path(self.token_url)}, HTTP {status}]",
                                   connection=self.connection, status=status)
        if not 200 <= status < 300:
            raise ConnectionFailed(f"unexpected answer from the token endpoint [POST {_path(self.token_url)}, "
                                   f"HTTP {status}]", connection=self.connection, status=status)
        if not isinstance(body, dict):
            raise ConnectionFailed(f"the token endpoint sent malformed JSON [POST {_path(self.token_url)}]",
                                   connection=self.connection, status=status)
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise ConnectionFailed(f"the token endpoint's answer has no access_token "
                                   f"[POST {_path(self.token_url)}]", connection=self.connection, status=status)
        token_type = body.get("token_type", "Bearer")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise ConnectionFailed(f"the token endpoint issued a '{token_type}' token; only Bearer tokens "
                                   f"are supported", connection=self.connection, status=status)
        return token, _lifetime(body.get("expires_in"))


def _lifetime(value: object) -> float:
    if isinstance(value, bool) or value is None:
        return DEFAULT_LIFETIME
    try:
        seconds = float(Decimal(str(value).strip()))
    except Exception:  # noqa: BLE001 — an unreadable lifetime is not fatal
        return DEFAULT_LIFETIME
    return seconds if seconds > 0 else DEFAULT_LIFETIME


def _json_or_none(response: httpx.Response) -> object:
    try:
        return json.loads(response.content, parse_float=Decimal)
    except ValueError:
        return None


def _path(url: str) -> str:
    try:
        return httpx.URL(url).raw_path.decode("ascii", "replace")
    except Exception:  # noqa: BLE001
        return "(token endpoint)"
