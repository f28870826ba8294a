"""Airflow plugin: a "Cohorts" page in the Airflow 3 UI.

Mounts cohortflow's small FastAPI app (``cohortflow.ui``) on the api-server at ``/cohortflow``
and adds a top-level "Cohorts" navigation entry that shows it inside the UI (an external view
with a ``url_route``, so it is framed at ``/plugin/cohorts``).

Airflow imports every file of ``plugins/`` in every component, so this file stays cheap: the
app (FastAPI, DuckDB, Jinja2) is built on the first request the api-server routes to it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from airflow.plugins_manager import AirflowPlugin

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

URL_PREFIX = "/cohortflow"


class LazyCohortsApp:
    """An ASGI app that builds ``cohortflow.ui.create_app()`` on its first request."""

    def __init__(self) -> None:
        self._app: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hand the request to the real app, building it first if needed."""
        if self._app is None:
            from cohortflow.ui import create_app

            self._app = create_app()
        await self._app(scope, receive, send)


class CohortflowUIPlugin(AirflowPlugin):
    """The Cohorts page: cohorts, campaigns, reports and rejected-row downloads."""

    name = "cohortflow_ui"
    fastapi_apps = [  # noqa: RUF012 - the attribute Airflow reads
        {"app": LazyCohortsApp(), "url_prefix": URL_PREFIX, "name": "cohortflow cohorts"}
    ]
    external_views = [  # noqa: RUF012 - the attribute Airflow reads
        {
            "name": "Cohorts",
            "href": f"{URL_PREFIX}/",
            "url_route": "cohorts",
            "destination": "nav",
            "nav_top_level": True,
            "icon": f"{URL_PREFIX}/icon.svg",
        }
    ]
