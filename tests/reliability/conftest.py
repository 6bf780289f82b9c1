"""Fixtures both crash-safety modules use (SQLCipher and PostgreSQL)."""

from __future__ import annotations

import pytest

from tests.integration.http_server import ApiServer, pki  # noqa: F401 — the server's certificates

SYNC_PAGE = 3   # lines a page: the default server state (23 + 7 + 0 lines) is then 12 pages


@pytest.fixture(scope="module")
def sync_server(pki):  # noqa: ANN001, ANN201, F811
    """The local HTTPS banking API, serving small pages so a sync is many batches."""
    server = ApiServer(pki)
    server.state.page_size = SYNC_PAGE
    yield server
    server.stop()
