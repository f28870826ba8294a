"""The sandbox's test endpoints: what it recorded, its counters, call outcomes, and what
the provider accounts hold. Not part of any provider's API."""

from __future__ import annotations

from typing import Any

from cohortflow.sandbox.outcomes import outcome_for
from cohortflow.sandbox.state import SandboxState


def outcomes(sandbox: SandboxState, query: dict[str, str]) -> dict[str, Any]:
    """Deterministic call outcomes for recipients sent after id ``since``."""
    since, limit = int(query.get("since", 0)), min(int(query.get("limit", 1000)), 10_000)
    rows = sandbox.recorder.query(
        "select id, provider, idempotency_key, reference, phone_number, user_identifier,"
        " caller_id, sent_at as received_at from sandbox_recipients"
        " where id > ? and sent_at is not null order by id limit ?",
        [since, limit],
    )
    outcomes = [
        row
        | outcome_for(
            row["phone_number"] or row["user_identifier"],
            row["idempotency_key"],
            row["received_at"],
        )
        | {"received_at": row["received_at"].isoformat() + "Z"}
        for row in rows
    ]
    return {"outcomes": outcomes, "next_since": rows[-1]["id"] if rows else since}


def recipients(sandbox: SandboxState, query: dict[str, str]) -> dict[str, Any]:
    """Recorded recipients, filtered by provider, idempotency_key or phone_number."""
    where, parameters = [], []
    for name in ("provider", "idempotency_key", "phone_number"):
        if name in query:
            where.append(f"{name} = ?")
            parameters.append(query[name])
    clause = f"where {' and '.join(where)}" if where else ""
    recorder = sandbox.recorder
    summary = recorder.query(
        "select count(*) as count, count(distinct coalesce(phone_number, user_identifier))"
        f" as distinct_recipients from sandbox_recipients {clause}",
        parameters,
    )[0]
    rows = recorder.query(
        "select id, provider, idempotency_key, phone_number, user_identifier, caller_id"
        f" from sandbox_recipients {clause} order by id limit ?",
        [*parameters, min(int(query.get("limit", 1000)), 100_000)],
    )
    return summary | {"recipients": rows}


def cometchat_sends(sandbox: SandboxState, query: dict[str, str]) -> dict[str, Any]:
    """Every CometChat send request the sandbox answered."""
    return {"sends": sandbox.world.cometchat_sends()}


def stats(sandbox: SandboxState, query: dict[str, str]) -> dict[str, Any]:
    """Counts per provider: recipients, batches, duplicates, repeats, held; request counters."""
    # duplicates: a recipient recorded twice under one key (a request processed twice);
    # repeats: a recipient recorded more than once under any keys (contacted again).
    by_provider = sandbox.recorder.query(
        "select provider, count(*) as recipients, count(distinct idempotency_key) as batches,"
        " count(*) - count(distinct (idempotency_key, coalesce(phone_number,"
        " user_identifier))) as duplicates,"
        " count(*) - count(distinct coalesce(phone_number, user_identifier)) as repeats,"
        " count(*) filter (where sent_at is null) as held"
        " from sandbox_recipients group by provider order by provider"
    )
    counts = sandbox.counts_snapshot()
    return {
        "recipients": sum(r["recipients"] for r in by_provider),
        "duplicates": sum(r["duplicates"] for r in by_provider),
        "repeats": sum(r["repeats"] for r in by_provider),
        "held": sum(r["held"] for r in by_provider),
        "by_provider": {r.pop("provider"): r for r in by_provider},
        "counts": counts,
    }

