"""Team-mode URL policy (pure, no server): only verify-full gets through unless the exact host
was allowed; messages and keyring names never carry the password."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cio_desktop.errors import DatabaseOpenError
from cio_desktop.storage.team import prepare_pg_target, redact, team_key_target

MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
hosts = st.from_regex(r"[a-z][a-z0-9-]{0,12}(\.[a-z]{2,6}){0,2}", fullmatch=True)
passwords = st.text(alphabet=st.characters(min_codepoint=48, max_codepoint=122), min_size=8, max_size=20)


@given(host=hosts, mode=st.sampled_from(MODES), allowed=st.lists(hosts, max_size=3), password=passwords)
def test_only_verify_full_or_an_allowed_host_connects(host, mode, allowed, password):
    url = f"postgresql://team:{quote(password, safe='')}@{host}:5432/treasury?sslmode={mode}"
    allow = frozenset(allowed)
    try:
        target = prepare_pg_target(url, insecure_hosts=allow, ca_file="/etc/ssl/certs/ca-certificates.crt")
    except DatabaseOpenError as exc:
        assert mode != "verify-full" and host not in allow
        assert password not in str(exc) and "allow_insecure_hosts" in str(exc)
        return
    assert mode == "verify-full" or host in allow
    assert target.insecure == (mode != "verify-full")
    assert target.connect_args["sslmode"] == mode
    assert target.connect_args["ssl_min_protocol_version"] == "TLSv1.2"


@given(host=hosts, password=passwords)
def test_redacted_names_never_hold_the_password(host, password):
    url = f"postgresql://team:{quote(password, safe='')}@{host}:5432/treasury?sslmode=verify-full&sslrootcert=/x"
    assert password not in redact(url) and password not in team_key_target(url)
    assert team_key_target(url) == team_key_target(f"postgresql://team:x{quote(password, safe='')}@{host}:5432/treasury")


def test_an_unencoded_password_is_a_clear_message_without_the_password():
    with pytest.raises(DatabaseOpenError) as info:
        prepare_pg_target("postgresql://team:pa@ss:word@db.example.com:5432/treasury")
    assert "percent-encoded" in str(info.value) and "ss:word" not in str(info.value)


def test_default_is_verify_full_with_a_ca_file():
    target = prepare_pg_target("postgresql://u:p@db.example.com/treasury")
    assert target.connect_args["sslmode"] == "verify-full" and target.connect_args.get("sslrootcert")


@pytest.mark.parametrize("url, words", [
    ("postgresql://u:p@/treasury?host=/var/run/postgresql", "host name"),
    ("postgresql://u:p@db.example.com/", "names no database"),
    ("mysql://u:p@db.example.com/x", "not a postgresql"),
])
def test_unusable_urls_are_explained(url, words):
    with pytest.raises(DatabaseOpenError) as info:
        prepare_pg_target(url)
    assert words in str(info.value)
