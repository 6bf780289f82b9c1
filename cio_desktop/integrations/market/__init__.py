"""Market-data providers behind one interface (:class:`MarketProvider`): the ECB reference
rates, Stooq daily-price CSV and Alpha Vantage JSON (prices and company overview)."""

from cio_desktop.integrations.market.alphavantage import AlphaVantageProvider
from cio_desktop.integrations.market.base import (FUNDAMENTALS, FX, PRICES, Bar, Fundamentals, FxFixing,
                                                  MarketDataError, MarketProvider, PriceHistory, ProviderConfig)
from cio_desktop.integrations.market.ecb import EcbProvider
from cio_desktop.integrations.market.stooq import StooqProvider

PROVIDER_KINDS: dict[str, type[MarketProvider]] = {
    p.kind: p for p in (EcbProvider, StooqProvider, AlphaVantageProvider)}


def make_provider(config: ProviderConfig, **kwargs) -> MarketProvider:  # noqa: ANN003
    try:
        cls = PROVIDER_KINDS[config.kind]
    except KeyError:
        raise MarketDataError(config.name, "", "config", f"unknown provider kind '{config.kind}'; kinds are "
                              f"{', '.join(PROVIDER_KINDS)}") from None
    return cls(config, **kwargs)


__all__ = ["FUNDAMENTALS", "FX", "PRICES", "PROVIDER_KINDS", "AlphaVantageProvider", "Bar", "EcbProvider",
           "Fundamentals", "FxFixing", "MarketDataError", "MarketProvider", "PriceHistory", "ProviderConfig",
           "StooqProvider", "make_provider"]
