"""Log records a test captured (pytest's ``caplog``), picked by logger and ``extra`` fields."""

from __future__ import annotations

import logging
from typing import Any

import pytest

__all__ = ["lines"]


def lines(caplog: pytest.LogCaptureFixture, logger: str, **fields: Any) -> list[logging.LogRecord]:
    """The records of ``logger`` whose extra fields have these values."""
    return [
        record
        for record in caplog.records
        if record.name == logger and all(getattr(record, key, object()) == value for key, value in fields.items())
    ]
