"""What a sandbox is started with: the secrets it expects and the faults it injects."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_KEY = "sandbox-key"
DEFAULT_APP_ID = "sandbox-app"


@dataclass(frozen=True)
class SandboxKeys:
    """The account the sandbox plays: the secrets it expects (one key for every provider, and
    CometChat's app id), the CometChat campaigns that exist (None: any id does), and what
    Nexus refuses."""

    key: str = DEFAULT_KEY
    app_id: str = DEFAULT_APP_ID
    cometchat_campaigns: frozenset[str] | None = None
    #: Numbers Nexus's own validation refuses (answered 422 with those rows when ``type`` is
    #: ``"false"``), besides numbers that are not numbers at all.
    nexus_invalid_numbers: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Faults:
    """Fractions of provider requests that fail on purpose; drawn from a seeded generator."""

    fail_429: float = 0.0  # answered 429 with Retry-After, not processed
    fail_500: float = 0.0  # answered 500, not processed
    slow: float = 0.0  # processed only after slow_seconds (the client has given up)
    drop: float = 0.0  # the connection closed unanswered, not processed
    seed: int = 0
    slow_seconds: float = 35.0  # longer than the default client timeout (30 s)
    retry_after: int = 1  # seconds, sent with every 429
    drop_after_accept: float = 0.0  # processed and recorded, then the connection closed
    timeout_after_accept: float = 0.0  # processed and recorded, answered after slow_seconds

    def __post_init__(self) -> None:
        fractions = (self.fail_429, self.fail_500, self.slow, self.drop,
                     self.drop_after_accept, self.timeout_after_accept)
        if any(f < 0 for f in fractions) or sum(fractions) > 1:
            raise ValueError("fault fractions must be >= 0 and add up to at most 1")
