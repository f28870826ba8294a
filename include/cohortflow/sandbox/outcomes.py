"""Call outcomes the sandbox reports for what it accepted (``GET /_sandbox/outcomes``).

Each recipient gets a deterministic pseudo-random outcome, seeded by its phone and the batch's
key, so a test can predict what a campaign's retries will be.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from typing import Any

#: Call outcomes and their weights (percent).
OUTCOMES: dict[str, int] = {
    "completed": 50,
    "no_answer": 20,
    "busy": 15,
    "failed": 10,
    "provider_error": 5,
}



def outcome_for(
    phone_number: str | None, idempotency_key: str | None, received_at: dt.datetime | None = None
) -> dict[str, Any]:
    """A deterministic pseudo-random call outcome, seeded by phone number and key.

    ``at`` (ISO 8601, UTC) is ``received_at`` (naive UTC) plus a seeded 5 to 900 seconds.
    """
    seed = hashlib.sha256(f"{phone_number}|{idempotency_key}".encode()).digest()
    rng = random.Random(int.from_bytes(seed[:8], "big"))
    status = rng.choices(list(OUTCOMES), list(OUTCOMES.values()))[0]
    duration = rng.choice((rng.randint(1, 9), rng.randint(10, 300))) if status == "completed" else 0
    error = {
        "failed": "SIP 480 Temporarily Unavailable",
        "provider_error": "SIP 503 Service Unavailable",
    }.get(status)
    start = (received_at or dt.datetime(2000, 1, 1)).replace(tzinfo=dt.UTC)
    at = start + dt.timedelta(seconds=rng.randint(5, 900))
    return {
        "status": status,
        "duration_seconds": duration,
        "provider_error": error,
        "at": at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
