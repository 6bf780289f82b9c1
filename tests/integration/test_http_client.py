"""ApiClient against a real local HTTPS server: TLS, mTLS, OAuth2, API keys, retries, errors."""

from __future__ import annotations

import datetime as dt
import logging
import time
from decimal import Decimal
from email.utils import format_datetime

import httpx
import pytest

from cio_desktop.domain.retry import BackoffPolicy
from cio_desktop.errors import ConnectionFailed, ValidationError
from cio_desktop.integrations.http import ApiClient, ConnectionConfig, Credentials, loads_exact, parse_retry_after
from tests.integration.http_server import (  # noqa: F401 — fixtures
    API_KEY,
    CLIENT_ID,
    CLIENT_KEY_PASSPHRASE,
    CLIENT_SECRET,
    ApiServer,
    ApiState,
    api_server,
    default_state,
    kits,
    pki,
    start_server,
)


def within(value: float, nominal: float, jitter: float = 0.1) -> bool:
    return nominal * (1 - jitter) - 1e-9 <= value <= nominal * (1 + jitter) + 1e-9


# -- OAuth2 ---------------------------------------------------------------------------------------

def test_oauth2_token_fetched_once_and_sent_as_bearer(api_server, pki, kits):
    kit = kits(api_server, pki)
    assert len(kit.client.get_json("/v1/accounts")["accounts"]) == 3
    assert kit.client.get_json("/v1/accounts/acc-eur-1/balances")["balances"]
    assert api_server.state.token_requests == 1
    api = api_server.api_requests()
    assert len(api) == 2
    assert all(s.headers["authorization"].startswith("Bearer tok-") for s in api)
    assert len({s.headers["x-request-id"] for s in api}) == 2       # one fresh X-Request-ID per request
    assert kit.sleeps == []


def test_token_refreshed_before_it_expires(api_server, pki, kits):
    api_server.state.token_lifetime = 300
    kit = kits(api_server, pki)
    kit.client.get_json("/v1/accounts")
    kit.clock.advance(295)             # inside the safety margin: the client fetches a new token itself
    api_server.advance(301)            # and the server would indeed refuse the old one now
    kit.client.get_json("/v1/accounts")
    assert api_server.state.token_requests == 2
    assert len(api_server.api_requests()) == 2          # no request was refused with 401
    tokens = [s.headers["authorization"] for s in api_server.api_requests()]
    assert tokens[0] != tokens[1]


def test_expired_or_revoked_token_gets_one_refresh_on_401(api_server, pki, kits):
    kit = kits(api_server, pki)
    kit.client.get_json("/v1/accounts")
    api_server.revoke_tokens()         # the client still believes its token is valid
    assert len(kit.client.get_json("/v1/accounts")["accounts"]) == 3
    assert api_server.state.token_requests == 2
    assert len(api_server.api_requests()) == 3          # ok, 401, ok with the new token
    assert kit.sleeps == []


def test_still_401_after_refresh_fails_with_a_clear_message(api_server, pki, kits):
    api_server.state.reject_tokens = True
    kit = kits(api_server, pki)
    with pytest.raises(ConnectionFailed) as info:
        kit.client.get_json("/v1/accounts")
    err = info.value
    assert err.status == 401 and not err.retryable
    assert "Test Bank" in str(err) and "GET /v1/accounts" in str(err) and "HTTP 401" in str(err)
    assert "refused the access token" in str(err)
    assert api_server.state.token_requests == 2          # the first token and exactly one refresh
    assert len(api_server.api_requests()) == 2
    assert kit.sleeps == []
    assert CLIENT_SECRET not in str(err)


def test_wrong_client_secret_is_refused_without_retries(api_server, pki, kits):
    kit = kits(api_server, pki, credentials=Credentials(client_secret="wrong"))
    with pytest.raises(ConnectionFailed) as info:
        kit.client.get_json("/v1/accounts")
    assert info.value.status == 401
    assert "refused the client credentials (invalid_client" in str(info.value)
    assert "POST /oauth/token" in str(info.value)
    assert "wrong" not in str(info.value).replace("wrong client", "")
    assert api_server.state.token_requests == 1 and kit.sleeps == []


def test_client_secret_post_form_fields(api_server, pki, kits):
    kit = kits(api_server, pki, token_auth_method="post", scope="accounts")
    assert kit.client.get_json("/v1/accounts")
    token_req = [s for s in api_server.state.seen if s.path == "/oauth/token"][0]
    assert "authorization" not in token_req.headers


def test_token_endpoint_outage_is_retried(api_server, pki, kits):
    api_server.fail_next(2, 503, path="/oauth/token")
    kit = kits(api_server, pki)
    assert kit.client.get_json("/v1/accounts")
    assert api_server.state.token_requests == 1          # the two 503s never reached the token logic
    assert len(kit.sleeps) == 2


# -- API key ---------------------------------------------------------------------------------------

def test_api_key_accepted_and_refused(start_server, pki, kits):
    server = start_server(state=_with(default_state(), auth_mode="api_key"))
    good = kits(server, pki, auth_kind="api_key")
    assert good.client.test_connection() == "OK: 3 accounts"
    assert server.api_requests()[-1].headers["x-api-key"] == API_KEY
    bad = kits(server, pki, auth_kind="api_key", credentials=Credentials(api_key="not-the-key"))
    with pytest.raises(ConnectionFailed) as info:
        bad.client.get_json("/v1/accounts")
    assert info.value.status == 401 and "refused the API key" in str(info.value)
    assert "not-the-key" not in str(info.value) and "not-the-key" not in repr(bad.client)
    assert bad.sleeps == []


def test_custom_api_key_header(start_server, pki, kits):
    server = start_server(state=_with(default_state(), auth_mode="none"))
    kit = kits(server, pki, auth_kind="api_key", api_key_header="Ocp-Apim-Subscription-Key")
    kit.client.get_json("/v1/accounts")
    assert server.api_requests()[-1].headers["ocp-apim-subscription-key"] == API_KEY


def test_missing_secret_is_a_configuration_error(api_server, pki):
    cfg = ConnectionConfig(name="X", kind="banking", base_url=api_server.url, auth_kind="oauth2",
                           token_url=api_server.token_url, client_id=CLIENT_ID)
    with pytest.raises(ValidationError) as info:
        ApiClient(cfg, Credentials())
    assert info.value.field == "client_secret"


# -- TLS ---------------------------------------------------------------------------------------------

def test_mutual_tls_accepted_with_the_client_certificate(start_server, pki, kits):
    server = start_server(require_client_cert=True)
    kit = kits(server, pki, client_cert=True)
    assert kit.client.test_connection() == "OK: 3 accounts"
    assert {s.client_cn for s in server.state.seen} == {"cio-desktop-test-client"}


def test_mutual_tls_only_auth_kind(start_server, pki, kits):
    server = start_server(require_client_cert=True, state=_with(default_state(), auth_mode="none"))
    kit = kits(server, pki, auth_kind="client_cert", client_cert=True)
    assert kit.client.test_connection() == "OK: 3 accounts"


def test_mutual_tls_refused_without_a_client_certificate(start_server, pki, kits):
    server = start_server(require_client_cert=True)
    kit = kits(server, pki)
    with pytest.raises(ConnectionFailed) as info:
        kit.client.get_json("/v1/accounts")
    assert "client certificate" in str(info.value)
    assert not info.value.retryable and kit.sleeps == []
    assert server.state.seen == []                       # no request ever got through


def test_mutual_tls_refused_with_an_untrusted_client_certificate(start_server, pki, kits):
    server = start_server(require_client_cert=True)
    kit = kits(server, pki, client_cert_path=str(pki.rogue_client_cert), client_key_path=str(pki.rogue_client_key))
    with pytest.raises(ConnectionFailed) as info:
        kit.client.get_json("/v1/accounts")
    assert "TLS" in str(info.value)
    assert server.state.seen == []


def test_wrong_key_passphrase_is_reported_without_the_passphrase(api_server, pki, kits):
    with pytest.raises(ValidationError) as info:
        kits(api_server, pki, client_cert=True, credentials=Credentials(client_secret=CLIENT_SECRET,
                                                                         key_passphrase="nope-wrong"))
    assert info.value.field == "client_cert_path" and "passphrase" in str(info.value)
    assert "nope-wrong" not in str(info.value)
    assert CLIENT_KEY_PASSPHRASE not in repr(Credentials(key_passphrase=CLIENT_KEY_PASSPHRASE))


def test_untrusted_server_certificate_fails_verification(start_server, pki, kits):
    server = start_server(untrusted=True)
    kit = kits(server, pki)
    with pytest.raises(ConnectionFailed) as info:
        kit.client.get_json("/v1/accounts")
    msg = str(info.value)
    assert "certificate could not be verified" in msg and "CA bundle" in msg
    assert not info.value.retryable and kit.sleeps == []
    assert server.state.seen == []


def test_server_certificate_trusted_once_its_ca_is_configured(start_server, pki, kits):
    server = start_server(untrusted=True)
    kit = kits(server, pki, ca_bundle_path=str(pki.untrusted_ca_cert))
    assert kit.client.test_connection() == "OK: 3 accounts"


def test_tls_below_1_2_is_never_offered(api_server, pki, kits):
    kit = kits(api_server, pki)
    ctx = kit.client._http._transport._pool._ssl_context  # noqa: SLF001 — the context in use
    import ssl
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


def test_missing_ca_bundle_file_is_a_configuration_error(api_server, pki, tmp_path):
    with pytest.raises(ValidationError) as info:
        ApiClient(ConnectionConfig(name="X", kind="banking", base_url=api_server.url,
                                   ca_bundle_path=str(tmp_path / "missing.pem")))
    assert info.value.field == "ca_bundle_path"


# -- plain HTTP ------------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["http://bank.example.com/psd2", "http://10.0.0.5:8080", "ftp://bank.example.com"])
def test_plain_http_refused_for_remote_hosts(url):
    with pytest.raises(ValidationError) as info:
        ApiClient(ConnectionConfig(name="X", kind="banking", base_url=url), allow_insecure_loopback=True)
    assert info.value.field == "base_url" and "https" in str(info.value)


def test_plain_http_to_loopback_needs_explicit_permission(start_server, kits):
    server = start_server(tls=False, state=_with(default_state(), auth_mode="none"))
    with pytest.raises(ValidationError, match="plain http:// is refused"):
        ApiClient(ConnectionConfig(name="X", kind="banking", base_url=server.url))
    kit = kits(server, None, allow_insecure_loopback=True)
    assert kit.client.test_connection() == "OK: 3 accounts"


def test_http_token_url_refused():
    with pytest.raises(ValidationError) as info:
        ConnectionConfig(name="X", kind="banking", base_url="https://bank.example.com", auth_kind="oauth2",
                         token_url="http://bank.example.com/token", client_id="c").validate()
    assert info.value.field == "token_url"


def test_credentials_in_url_refused():
    with pytest.raises(ValidationError, match="do not belong in the URL"):
        ConnectionConfig(name="X", kind="banking", base_url="https://user:pw@bank.example.com").validate()


# -- retries ---------------------------------------------------------------------------------------

def test_500s_are_retried_with_exponential_backoff(api_server, pki, kits):
    api_server.fail_next(2, 500)
    kit = kits(api_server, pki)
    assert kit.client.get_json("/v1/accounts")["accounts"]
    assert len(kit.sleeps) == 2
    assert within(kit.sleeps[0], 1.0) and within(kit.sleeps[1], 2.0)


def test_persistent_500_gives_up_after_max_attempts(api_server, pki, kits):
    api_server.fail_next(100, 502)
    kit = kits(api_server, pki)
    with pytest.raises(ConnectionFailed) as info:
        kit.client.get_json("/v1/accounts")
    err = info.value
    assert err.status == 502 and err.retryable
    assert "gave up after 4 attempts" in str(err) and "GET /v1/accounts" in str(err) and "HTTP 502" in str(err)
    assert "INTERNAL_SERVER_ERROR injected 502" in str(err)           # the server's own explanation
    assert [round(s / n, 6) <= 1.1 and s / n >= 0.9 for s, n in zip(kit.sleeps, [1, 2, 4])] == [True] * 3
    assert len(api_server.api_requests()) == 4


def test_timeout_is_retried(api_server, pki, kits):
    kit = kits(api_server, pki)
    kit.client.get_json("/v1/accounts")                 # token already fetched
    api_server.timeout_next(1, delay=2.0)                # the client gives up after 0.5 s
    started = time.monotonic()
    assert kit.client.get_json("/v1/accounts")["accounts"]
    elapsed = time.monotonic() - started
    assert 0.45 <= elapsed < 1.8
    assert len(kit.sleeps) == 1 and within(kit.sleeps[0], 1.0)


def test_persistent_timeout_message(api_server, pki, kits):
    kit = kits(api_server, pki, policy=BackoffPolicy(max_attempts=2, jitter=0))
    kit.client.get_json("/v1/accounts")
    api_server.timeout_next(2, delay=0.8)
    with pytest.raises(ConnectionFailed) as info:
        kit.client.get_json("/v1/accounts")
    assert "no answer within 0.5 s" in str(info.value) and info.value.retryable
    assert kit.sleeps == [1.0]


def test_dropped_connection_is_retried(api_server, pki, kits):
    kit = kits(api_server, pki)
    kit.client.get_json("/v1/accounts")
    api_server.reset_next(1)
    assert kit.client.get_json("/v1/accounts")
    assert len(kit.sleeps) == 1


def test_429_retry_after_seconds_is_honoured(api_server, pki, kits):
    api_server.fail_next(1, 429, retry_after="7")
    kit = kits(api_server, pki)
    assert kit.client.get_json("/v1/accounts")
    assert kit.sleeps == [7.0]


def test_retry_after_is_capped_by_the_policy(api_server, pki, kits):
    api_server.fail_next(1, 429, retry_after="3600")
    kit = kits(api_server, pki)
    kit.client.get_json("/v1/accounts")
    assert kit.sleeps == [30.0]


def test_503_retry_after_http_date(api_server, pki, kits):
    now = dt.datetime(2026, 11, 2, 9, 0, 0, tzinfo=dt.timezone.utc)
    api_server.fail_next(1, 503, retry_after=format_datetime(now + dt.timedelta(seconds=12), usegmt=True))
    kit = kits(api_server, pki, now=lambda: now)
    kit.client.get_json("/v1/accounts")
    assert kit.sleeps == [12.0]


def test_short_retry_after_never_undercuts_the_backoff(api_server, pki, kits):
    api_server.fail_next(1, 429, retry_after="0")
    kit = kits(api_server, pki)
    kit.client.get_json("/v1/accounts")
    assert len(kit.sleeps) == 1 and within(kit.sleeps[0], 1.0)


def test_other_4xx_are_not_retried(api_server, pki, kits):
    kit = kits(api_server, pki)
    with pytest.raises(ConnectionFailed) as info:
        kit.client.get_json("/v1/nothing-here")
    err = info.value
    assert err.status == 404 and not err.retryable
    assert "not found: RESOURCE_UNKNOWN" in str(err) and "GET /v1/nothing-here, HTTP 404" in str(err)
    assert kit.sleeps == []
    api_server.fail_next(1, 400)
    with pytest.raises(ConnectionFailed) as info:
        kit.client.get_json("/v1/accounts")
    assert info.value.status == 400 and kit.sleeps == []


def test_unreachable_server_is_retried_then_reported(pki, kits, start_server):
    server = start_server()
    kit = kits(server, pki)
    server.stop()
    with pytest.raises(ConnectionFailed) as info:
        kit.client.get_json("/v1/accounts")
    assert "could not connect to 127.0.0.1" in str(info.value) and "gave up after 4 attempts" in str(info.value)
    assert len(kit.sleeps) == 3


# -- responses ---------------------------------------------------------------------------------------

def test_malformed_json_is_reported_with_the_page(api_server, pki, kits):
    kit = kits(api_server, pki)
    api_server.malformed_next(1)
    with pytest.raises(ConnectionFailed) as info:
        kit.client.get_json("/v1/accounts", {"page": 2})
    assert str(info.value).startswith("Test Bank: the server sent malformed JSON (page /v1/accounts?page=2)")
    assert kit.sleeps == [] and not info.value.retryable


def test_json_numbers_are_exact_and_nan_refused():
    data = loads_exact('{"a": 0.1, "b": 1234567890123.45, "c": 7, "d": 1e-3}')
    assert data == {"a": Decimal("0.1"), "b": Decimal("1234567890123.45"), "c": 7, "d": Decimal("0.001")}
    with pytest.raises(ValueError):
        loads_exact('{"a": NaN}')


def test_connection_pooling_reuses_one_tls_connection(api_server, pki, kits):
    kit = kits(api_server, pki)
    for _ in range(10):
        kit.client.get_json("/v1/accounts")
    assert api_server.state.connections == 1


def test_links_to_another_origin_are_refused(api_server, pki, kits):
    kit = kits(api_server, pki)
    with pytest.raises(ConnectionFailed, match="another site"):
        kit.client.get_json("https://evil.example.com/v1/accounts")
    assert kit.client.resolve_link("/v1/x?page=2", kit.client.url_for("/v1/accounts")) == \
        httpx.URL(api_server.url + "/v1/x?page=2")


def test_base_url_path_prefix(start_server, pki, kits):
    state = default_state()
    state.prefix = "/psd2"
    server = start_server(state=state)
    kit = kits(server, pki)
    assert server.url.endswith("/psd2")
    assert kit.client.test_connection() == "OK: 3 accounts"


def test_secrets_never_logged_or_shown(api_server, pki, kits, caplog):
    caplog.set_level(logging.DEBUG)
    kit = kits(api_server, pki, client_cert=True)
    api_server.fail_next(1, 500)
    kit.client.get_json("/v1/accounts")
    api_server.revoke_tokens()
    kit.client.get_json("/v1/accounts")
    tokens = [s.headers["authorization"][7:] for s in api_server.api_requests()]
    shown = caplog.text + repr(kit.client) + repr(kit.client.auth) + repr(kit.client.config)
    for secret in [CLIENT_SECRET, CLIENT_KEY_PASSPHRASE, API_KEY, *tokens]:
        assert secret not in shown
    assert "retry 1 of 3" in caplog.text


# -- pure helpers ------------------------------------------------------------------------------------

def test_parse_retry_after():
    now = dt.datetime(2026, 11, 2, 9, 0, 0, tzinfo=dt.timezone.utc)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Mon, 02 Nov 2026 09:01:00 GMT", now) == 60.0
    assert parse_retry_after("Mon, 02 Nov 2026 08:59:00 GMT", now) == 0.0     # in the past
    assert parse_retry_after("soon", now) is None and parse_retry_after(None, now) is None
    assert parse_retry_after("", now) is None


def test_config_validation_names_the_field():
    with pytest.raises(ValidationError) as info:
        ConnectionConfig(name="X", kind="crypto", base_url="https://a.example").validate()
    assert info.value.field == "kind"
    with pytest.raises(ValidationError) as info:
        ConnectionConfig(name="X", kind="banking", base_url="https://a.example", auth_kind="oauth2").validate()
    assert info.value.field == "token_url"
    with pytest.raises(ValidationError) as info:
        ConnectionConfig(name="X", kind="banking", base_url="https://a.example", timeout=0).validate()
    assert info.value.field == "timeout"


def _with(state: ApiState, **changes: object) -> ApiState:
    for k, v in changes.items():
        setattr(state, k, v)
    return state


_ = ApiServer  # re-exported type for readers
