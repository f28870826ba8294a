"""The Cohorts page app (``cohortflow.ui``) on a warehouse built from the example files."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from cohortflow.config import find_campaign, load_mapping
from cohortflow.ingest import CohortRequest, process_cohort
from cohortflow.ui.app import artefact_path, create_app
from cohortflow.warehouse import register_cohorts
from cohortflow.warehouse.paths import cohort_dir
from cohortflow.warehouse.summary import CohortSummary

PROJECT = Path(__file__).resolve().parents[3]
EXAMPLES = PROJECT / "include" / "examples" / "landing"
CAMPAIGNS = PROJECT / "include" / "campaigns"


def _ingest(warehouse: Path, source: Path, campaign_id: str) -> CohortSummary:
    mapping_file = source.with_name(source.name.rsplit(".", 1)[0] + ".mapping.json")
    request = CohortRequest(
        source=source,
        campaign=find_campaign(CAMPAIGNS, campaign_id),
        mapping=load_mapping(mapping_file) if mapping_file.exists() else None,
        mapping_source=str(mapping_file) if mapping_file.exists() else None,
        name=source.name,
    )
    summary = CohortSummary.model_validate(
        process_cohort(request, warehouse / "scratch").model_dump()
    )
    target = cohort_dir(warehouse, campaign_id, summary.cohort_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(warehouse / "scratch", target)
    return summary


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, CohortSummary]]:
    """A warehouse with the two example cohorts and one failed cohort, registered."""
    root = tmp_path_factory.mktemp("ui")
    warehouse = root / "warehouse"
    garbage = root / "garbage.csv"
    garbage.write_bytes(b"\x00\x01binary\x00")
    summaries = {
        "loans": _ingest(warehouse, EXAMPLES / "loans" / "june_cohort.csv", "loans"),
        "reminders": _ingest(
            warehouse, EXAMPLES / "reminders" / "december_reminders.xlsx", "reminders"
        ),
        "broken": _ingest(warehouse, garbage, "broken"),
    }
    register_cohorts(
        warehouse,
        [cohort_dir(warehouse, s.campaign_id, s.cohort_id) for s in summaries.values()],
    )
    return warehouse, summaries


@pytest.fixture
def warehouse(built: tuple[Path, dict[str, CohortSummary]], tmp_path: Path) -> Path:
    """A private copy of the built warehouse (tests may add tables or files)."""
    copy = tmp_path / "warehouse"
    shutil.copytree(built[0], copy)
    return copy


@pytest.fixture
def summaries(built: tuple[Path, dict[str, CohortSummary]]) -> dict[str, CohortSummary]:
    return built[1]


@pytest.fixture
def client(warehouse: Path) -> Iterator[TestClient]:
    app = create_app(warehouse, CAMPAIGNS, require_login=False)
    with TestClient(app) as test_client:
        yield test_client


def _recipient_phones(warehouse: Path) -> list[str]:
    with duckdb.connect(str(warehouse / "cohortflow.duckdb"), read_only=True) as conn:
        return [row[0] for row in conn.execute("select phone_number from recipients").fetchall()]


def test_page_lists_every_cohort_with_status_and_counts(client, summaries):
    page = client.get("/")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for summary in summaries.values():
        assert f'data-cohort="{summary.cohort_id}"' in page.text
        assert summary.name in page.text
    loans = summaries["loans"]
    row = page.text.split(f'data-cohort="{loans.cohort_id}"', 1)[1].split("</tr>", 1)[0]
    assert "completed" in row
    assert f'<td class="num">{loans.total_records}</td>' in row
    assert f'<td class="num">{loans.rejected_records}</td>' in row


def test_page_shows_top_three_rejection_reasons(client, summaries):
    page = client.get("/").text
    loans = summaries["loans"]
    row = page.split(f'data-cohort="{loans.cohort_id}"', 1)[1].split("</tr>", 1)[0]

    assert row.count("<li>") == 3
    assert "<code>" in row


def test_failed_cohort_shows_its_error_and_no_rejected_link(client, summaries):
    broken = summaries["broken"]
    page = client.get("/").text
    row = page.split(f'data-cohort="{broken.cohort_id}"', 1)[1].split("</tr>", 1)[0]

    assert "failed" in row
    assert 'class="err"' in row
    assert "report.html" in row
    assert "rejected.csv" not in row


def test_page_never_shows_a_full_phone_number(client, warehouse):
    page = client.get("/").text
    phones = _recipient_phones(warehouse)

    assert phones
    for phone in phones:
        assert phone not in page
        assert phone.lstrip("+") not in page
        assert phone[-10:] not in page


def test_report_link_serves_the_report(client, summaries):
    loans = summaries["loans"]

    response = client.get(f"/cohorts/loans/{loans.cohort_id}/report.html")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "june_cohort.csv" in response.text


def test_rejected_csv_is_a_download(client, summaries, warehouse):
    loans = summaries["loans"]

    response = client.get(f"/cohorts/loans/{loans.cohort_id}/rejected.csv")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    expected = (cohort_dir(warehouse, "loans", loans.cohort_id) / "rejected.csv").read_bytes()
    assert response.content == expected


@pytest.mark.parametrize(
    "url",
    [
        "/cohorts/loans/{cohort}/summary.json",
        "/cohorts/loans/{cohort}/recipients.parquet",
        "/cohorts/loans/..%2F..%2F..%2Fetc/passwd",
        "/cohorts/..%2F..%2F/{cohort}/report.html",
        "/cohorts/../../{cohort}/report.html",
        "/cohorts/loans/..%2Fcohort_id%3D{cohort}/report.html",
        "/cohorts/loans/nope/report.html",
        "/cohorts/%2Fetc/{cohort}/report.html",
    ],
)
def test_only_allowed_files_of_cohort_folders_are_served(client, summaries, url):
    response = client.get(url.format(cohort=summaries["loans"].cohort_id))

    assert response.status_code == 404


def test_symlink_out_of_the_warehouse_is_refused(warehouse, summaries, tmp_path):
    secret = tmp_path / "secret.html"
    secret.write_text("secret")
    folder = cohort_dir(warehouse, "loans", summaries["loans"].cohort_id)
    (folder / "report.html").unlink()
    (folder / "report.html").symlink_to(secret)

    assert artefact_path(warehouse, "loans", summaries["loans"].cohort_id, "report.html") is None


def test_campaigns_without_dispatch_tables_count_recipients_as_waiting(client, summaries):
    page = client.get("/").text
    row = page.split('data-campaign="loans"', 1)[1].split("</tr>", 1)[0]
    valid = summaries["loans"].valid_records

    cells = _numbers(row)
    # cohorts, recipients, sent, unconfirmed, waiting, failed, cancelled
    assert cells[:7] == [1, valid, 0, 0, valid, 0, 0]
    assert "active" in row
    assert "Nothing dispatched yet" in page


def test_campaign_counts_come_from_the_latest_delivery_attempt(client, warehouse, summaries):
    loans = summaries["loans"].cohort_id
    with duckdb.connect(str(warehouse / "cohortflow.duckdb")) as conn:
        rows = conn.execute(
            "select row_number from recipients where campaign_id = 'loans' order by row_number"
        ).fetchall()
        first, second, third = (r[0] for r in rows[:3])
        conn.execute(
            "create table batches as select * from (values "
            "('loans', $c, 1, 0, 'k1', 3, 'submitted', null, now(), 3, 2, 1),"
            " ('loans', $c, 2, 1, 'k2', 1, 'pending', null, now(), null, null, null))"
            " t(campaign_id, cohort_id, batch_number, attempt, idempotency_key, recipients,"
            " status, error, created_at, accepted, confirmed, provider_rejected)",
            {"c": loans},
        )
        conn.execute(
            "create table deliveries as select * from (values "
            "('loans', $c, $a, '+910000000001', 1, 0, 'submitted', null::timestamptz),"
            "('loans', $c, $b, '+910000000002', 1, 0, 'failed', null::timestamptz),"
            "('loans', $c, $d, '+910000000003', 1, 0, 'failed', now()),"
            "('loans', $c, $b, '+910000000002', 2, 1, 'submitted', null::timestamptz))"
            " t(campaign_id, cohort_id, row_number, phone_number, batch_number, attempt, status,"
            " next_retry_at)",
            {"c": loans, "a": first, "b": second, "d": third},
        )

    page = client.get("/").text
    row = page.split('data-campaign="loans"', 1)[1].split("</tr>", 1)[0]
    valid = summaries["loans"].valid_records

    # 2 sent (row a, and row b on its retry), row d waits for a retry, the rest never sent;
    # the provider confirmed 2 of the first batch's 3 and refused 1.
    assert _numbers(row)[:8] == [1, valid, 2, 0, valid - 2, 0, 0, 0]
    assert "2 / 1 / 0" in row and "2 (1)" in row
    assert "Nothing dispatched yet" not in page


def test_failed_final_delivery_counts_as_failed(client, warehouse, summaries):
    loans = summaries["loans"].cohort_id
    with duckdb.connect(str(warehouse / "cohortflow.duckdb")) as conn:
        conn.execute(
            "create table deliveries as select campaign_id, cohort_id, row_number, phone_number,"
            " 1 as batch_number, 0 as attempt, 'failed' as status,"
            " null::timestamptz as next_retry_at from recipients where cohort_id = $c",
            {"c": loans},
        )

    row = client.get("/").text.split('data-campaign="loans"', 1)[1].split("</tr>", 1)[0]
    valid = summaries["loans"].valid_records

    assert _numbers(row)[:7] == [1, valid, 0, 0, 0, valid, 0]


def test_unconfirmed_batches_are_counted_and_listed_with_their_ids(client, warehouse,
                                                                    summaries):
    loans = summaries["loans"].cohort_id
    with duckdb.connect(str(warehouse / "cohortflow.duckdb")) as conn:
        conn.execute(
            "create table batches as select 'loans' as campaign_id, $c as cohort_id,"
            " 1 as batch_number, 0 as attempt, 'loans:' || $c || ':000001:0' as idempotency_key,"
            " count(*) as recipients, 'unconfirmed' as status,"
            " 'timed out (ReadTimeout)' as error, now() as created_at,"
            " null::bigint as accepted, null::bigint as confirmed,"
            " null::bigint as provider_rejected"
            " from recipients where cohort_id = $c",
            {"c": loans},
        )
        conn.execute(
            "create table deliveries as select campaign_id, cohort_id, row_number, phone_number,"
            " 1 as batch_number, 0 as attempt, 'unconfirmed' as status,"
            " null::timestamptz as next_retry_at from recipients where cohort_id = $c",
            {"c": loans},
        )

    page = client.get("/").text
    row = page.split('data-campaign="loans"', 1)[1].split("</tr>", 1)[0]
    valid = summaries["loans"].valid_records
    assert _numbers(row)[:7] == [1, valid, 0, valid, 0, 0, 0]
    listed = page.split('id="unconfirmed"', 1)[1].split("</table>", 1)[0]
    assert f"loans:{loans}:000001:0" in listed and "ReadTimeout" in listed
    assert "resolve_delivered" in page


def test_settings_the_provider_refused_are_shown_with_what_to_do(client, warehouse):
    """A Sarvam campaign whose settings update was refused: uploads wait, and the page says
    why and what to do (the ledger record as dispatch writes it)."""
    from cohortflow.dispatch.provider_setup import settings_update_for

    update = settings_update_for(find_campaign(CAMPAIGNS, "loans"))
    assert update is not None
    folder = warehouse / "ledgers" / "provider_settings" / "loans"
    folder.mkdir(parents=True)
    (folder / "000001-refused.json").write_text(json.dumps({
        "fingerprint": update.fingerprint, "status": "refused", "at": "2026-03-02T05:30:00+00:00",
        "error": "HTTP 400: Updates are only allowed when the campaign is in paused or "
                 "scheduled status", "method": "PATCH", "url": update.url, "actor": "dispatch",
    }))

    page = client.get("/").text
    note = page.split('data-note="loans"', 1)[1].split("</tr>", 1)[0]
    assert "sarvam refused the settings update" in note
    assert "cohortflow campaign sync loans" in note
    assert 'data-note="reminders"' not in page


def test_no_catalog_yet_is_explained(tmp_path):
    app = create_app(tmp_path / "empty", CAMPAIGNS, require_login=False)
    with TestClient(app) as empty:
        page = empty.get("/")

    assert page.status_code == 200
    assert "No catalog yet" in page.text
    assert 'data-campaign="loans"' in page.text


def test_catalog_values_are_html_escaped(client, warehouse, summaries):
    with duckdb.connect(str(warehouse / "cohortflow.duckdb")) as conn:
        conn.execute(
            "update cohorts set name = '<script>alert(1)</script>' where cohort_id = $c",
            {"c": summaries["loans"].cohort_id},
        )

    page = client.get("/").text

    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_login_is_required_when_served_by_airflow(warehouse):
    app = create_app(warehouse, CAMPAIGNS)
    with TestClient(app) as anonymous:
        assert anonymous.get("/").status_code == 401
        assert anonymous.get("/icon.svg").status_code == 200


def test_plugin_declares_the_app_and_the_nav_entry():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "cohortflow_ui_plugin", PROJECT / "plugins" / "cohortflow_ui.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    plugin = module.CohortflowUIPlugin

    assert plugin.fastapi_apps[0]["url_prefix"] == "/cohortflow"
    view = plugin.external_views[0]
    assert view["name"] == "Cohorts"
    assert view["href"] == "/cohortflow/"
    assert view["url_route"] == "cohorts"


def _numbers(row: str) -> list[int]:
    """The numeric cells of one table row, in order."""
    return [int(n) for n in re.findall(r'<td class="num">(\d+)', row)]


def test_unreadable_dispatch_tables_give_a_notice_not_an_error(client, warehouse):
    with duckdb.connect(str(warehouse / "cohortflow.duckdb")) as conn:
        conn.execute("create table deliveries (campaign_id varchar)")  # an unexpected shape

    page = client.get("/")

    assert page.status_code == 200
    assert "The catalog could not be read" in page.text
