"""What the sandbox accepted, kept in DuckDB: recipients, and each idempotent answer."""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb


@dataclass(frozen=True)
class Accepted:
    """One recipient a provider endpoint accepted."""

    phone_number: str | None
    user_identifier: str | None = None
    caller_id: str | None = None
    variables: dict[str, str] = field(default_factory=dict)


@dataclass
class Reply:
    """An endpoint's answer and the recipients it accepted."""

    status: int
    body: dict[str, Any]
    recipients: list[Accepted] = field(default_factory=list)
    held: bool = False  # recorded, but not sent until a later request says so (CometChat)


_SCHEMA = (
    """create table if not exists sandbox_recipients (
        id bigint, provider varchar, idempotency_key varchar, reference varchar,
        phone_number varchar, user_identifier varchar, caller_id varchar, variables varchar,
        received_at timestamp, sent_at timestamp)""",
    "alter table sandbox_recipients add column if not exists sent_at timestamp",
    """create table if not exists sandbox_requests (
        provider varchar, idempotency_key varchar, status_code integer, response varchar,
        recipients integer, received_at timestamp)""",
)


class Recorder:
    """Thread-safe store of accepted recipients and idempotent answers (DuckDB)."""

    def __init__(self, db: str | Path | None) -> None:
        """Open (or create) the database; ``None`` keeps it in memory."""
        self._lock = threading.Lock()
        self._db = duckdb.connect(str(db) if db else ":memory:")
        for statement in _SCHEMA:
            self._db.execute(statement).fetchall()
        self._replies: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        for provider, key, status, body in self._db.execute(
            "select provider, idempotency_key, status_code, response from sandbox_requests"
        ).fetchall():
            self._replies[(provider, key)] = (status, json.loads(body))
        rows = self._db.execute("select coalesce(max(id), 0) from sandbox_recipients").fetchall()
        self._last_id = int(rows[0][0])

    def replay(self, provider: str, key: str | None) -> tuple[int, dict[str, Any]] | None:
        """The stored answer for an idempotency key already seen, else ``None``."""
        if key is None:
            return None
        with self._lock:
            return self._replies.get((provider, key))

    def record(
        self, provider: str, key: str | None, reply: Reply, *, deduplicate: bool = False
    ) -> tuple[int, dict[str, Any], bool]:
        """Store a reply and its recipients: ``(status, body, replayed)``. With
        ``deduplicate``, once per key (a key seen before gets its stored answer back)."""
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)  # stored as naive UTC
        with self._lock:
            if deduplicate and key is not None and (provider, key) in self._replies:
                status, body = self._replies[(provider, key)]
                return status, body, True
            first = self._last_id + 1
            self._last_id += len(reply.recipients)
            reference = str(reply.body.get("_reference", ""))
            body = {k: v for k, v in reply.body.items() if k != "_reference"}
            if reply.recipients:
                self._db.execute(
                    "insert into sandbox_recipients select unnest(?), ?, ?, ?, unnest(?),"
                    " unnest(?), unnest(?), unnest(?), ?, ?",
                    [
                        list(range(first, first + len(reply.recipients))),
                        provider,
                        key,
                        reference,
                        [r.phone_number for r in reply.recipients],
                        [r.user_identifier for r in reply.recipients],
                        [r.caller_id for r in reply.recipients],
                        [json.dumps(r.variables) for r in reply.recipients],
                        now,
                        None if reply.held else now,
                    ],
                ).fetchall()
            if key is not None:
                self._db.execute(
                    "insert into sandbox_requests values (?, ?, ?, ?, ?, ?)",
                    [provider, key, reply.status, json.dumps(body), len(reply.recipients), now],
                ).fetchall()
                self._replies[(provider, key)] = (reply.status, body)
            return reply.status, body, False

    def mark_sent(self, provider: str, reference: str) -> int:
        """Send the held recipients of ``provider`` recorded under ``reference``; how many."""
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with self._lock:
            held = self._db.execute(
                "select count(*) from sandbox_recipients where provider = ? and reference = ?"
                " and sent_at is null", [provider, reference]).fetchall()[0][0]
            self._db.execute(
                "update sandbox_recipients set sent_at = ? where provider = ? and reference = ?"
                " and sent_at is null", [now, provider, reference]).fetchall()
            return int(held)

    def query(self, sql: str, parameters: list[Any] | None = None) -> list[dict[str, Any]]:
        """Rows of a read-only query as dicts."""
        with self._lock:
            cursor = self._db.execute(sql, parameters or [])
            names = [d[0] for d in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
