"""Statement parsers, HTTP connections, market-data providers, notification transports."""
