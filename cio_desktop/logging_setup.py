"""Rotating file log with a filter that masks account numbers and drops secrets.

The filter is the last line of defence: code should already log masked values, but an IBAN
or a long digit run that slips into a message is masked here before it reaches the file.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
from pathlib import Path

from cio_desktop.domain.masking import mask_account_numbers_in_text

_SECRET_KEYS = re.compile(r"(?i)(password|passphrase|secret|token|api[_-]?key|otp)(\s*[=:]\s*)(\S+)")


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = _SECRET_KEYS.sub(r"\1\2***", mask_account_numbers_in_text(message))
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure_logging(log_dir: Path, level: str = "INFO") -> Path:
    """Send the root logger to ``<log_dir>/cio-desktop.log`` (5 × 5 MB); returns the path."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "cio-desktop.log"
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_cio", False):
            root.removeHandler(handler)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=5 * 1024 * 1024, backupCount=5,
                                                   encoding="utf-8")
    handler._cio = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    return path
