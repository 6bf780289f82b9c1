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


def redact(text: str) -> str:
    """``text`` with account numbers masked and ``secret=…``-style values replaced by ``***``
    (for log lines, tracebacks and crash reports)."""
    return _SECRET_KEYS.sub(r"\1\2***", mask_account_numbers_in_text(text))


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # the traceback's last line is the exception's message, which may quote an input
            # value: format it here (the handler's formatter reuses exc_text) and redact it
            record.exc_text = redact(_TRACEBACKS.formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_TRACEBACKS = logging.Formatter()


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
