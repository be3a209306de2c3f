"""Secrets kept out of everything the workflow writes: error lines, logs, records, the catalog.

Credentials reach the storage layer only through the environment or an AWS profile (never the
sheet or the config), so the secrets to look for are the environment's; a URL's user
information is hidden too, should one slip into a message.
"""

from __future__ import annotations

import logging
import os
import re

SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
HIDDEN = "***"
URL_USER = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with the environment's secrets and any URL's user information hidden."""
    for name in SECRET_VARIABLES:
        secret = os.environ.get(name, "")
        if len(secret) >= 4:
            text = text.replace(secret, HIDDEN)
    return URL_USER.sub(rf"\g<scheme>{HIDDEN}@", text)


class RedactingFilter(logging.Filter):
    """Redacts every record a handler writes (its message and traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
