"""HTTP connections to banks, accounting systems and investment platforms (httpx).

Public API::

    from cio_desktop.integrations.http import ApiClient, ConnectionConfig, Credentials

    client = ApiClient(config, credentials, policy=BackoffPolicy())
    data = client.get_json("/v1/accounts")        # ConnectionFailed on failure (after retries)
"""

from cio_desktop.integrations.http.auth import ApiKeyAuth, Auth, OAuth2ClientCredentials
from cio_desktop.integrations.http.client import (
    AUTH_KINDS,
    KINDS,
    ApiClient,
    ConnectionConfig,
    Credentials,
    check_url,
    loads_exact,
    parse_retry_after,
)

__all__ = ["AUTH_KINDS", "KINDS", "ApiClient", "ApiKeyAuth", "Auth", "ConnectionConfig", "Credentials",
           "OAuth2ClientCredentials", "check_url", "loads_exact", "parse_retry_after"]
