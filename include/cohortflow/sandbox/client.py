"""Reading the sandbox's call-outcome feed (``GET /_sandbox/outcomes``): the demo's stand-in
for the outcomes a real provider reports."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests


def outcomes_url(base_url: str) -> str:
    """The outcome feed of the sandbox serving ``base_url`` (any path prefix is dropped)."""
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}/_sandbox/outcomes"


def fetch_outcomes(
    url: str, since: int, *, session: requests.Session | None = None
) -> tuple[list[dict[str, Any]], int]:
    """Outcomes after id ``since`` from the feed at ``url``, and the new cursor; raises
    ``requests.RequestException`` or ``ValueError`` (not JSON) when the feed cannot be read."""
    http = session or requests.Session()
    response = http.get(url, params={"since": since}, timeout=30)
    response.raise_for_status()
    body = response.json()
    items = body.get("outcomes", body) if isinstance(body, dict) else body
    records = [dict(item) for item in items]
    ids = [int(r["id"]) for r in records if str(r.get("id", "")).isdigit()]
    cursor = int(body.get("next_since", max(ids, default=since))) if isinstance(body, dict) else (
        max(ids, default=since)
    )
    return records, cursor
