"""The stronger peer (``benchmarks/peer.py``) gives cohortflow's outputs: on a generated cohort,
and on a hand-written one with odd spellings, an extension, two numbers in a cell, blanks,
repeats, a missing required value, formula-like cells and a template Jinja renders per row."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from benchmarks import generate, peer
from benchmarks.measure import compare_outputs

from cohortflow.config import load_campaign
from cohortflow.ingest import CohortRequest, process_cohort
from cohortflow.ingest.contracts import CONTRACTS

ODD_CAMPAIGN = """\
name: Odd spellings
default_region: IN
variables:
  name: {required: true}
  amount: {}
mapping:
  phone_number: {column_name: phone}
  user_identifier: {column_name: customer_id}
  app_variables:
    name: {column_name: name, required: true}
    amount: {column_name: amount}
template: "Hi {{ name | title }}, you owe {{ amount[0] }}"
"""
ODD_ROWS = '''\
phone,customer_id,name,amount
(+91) 98765-43210,C01,asha verma,120
tel:+91-98765-43211,C02,"Verma, Ravi",
0091 98765 43212,C03,=cmd|' /C calc'!A0,5
+91.98765.43213,C04,Zoë,7
９８７６５４３２１４,C05,Meena,8
+९१ ९८७६५ ४३२१५,C06,Ravi,9
98765 43216 ext. 12,C07,Anita,10
9876543217;9876543218,C08,Rahul,11
,C09,Nobody,12
"   ",C10,Blank,13
n/a,C11,=SUM(1),14
+999 123456789,C12,Bad code,15
+91 98765 43210,C13,Repeat,16
+91 98765 43220,C14,  ,17
098765 43220,C15,Second,18
+44 (0) 20 7946 0958,C16,"Ana ""Nita""",19
00 44 20 7946 0958,C17,Same GB,20
+1 (415) 555-2671,C18,@home,21
[+91] 9876543221,C19,Bracket,22
+91 98765 4322,C20,Short,23
-9876543223,C21,Dash,24
'''


def _cohortflow(source: Path, campaign: Path, out: Path) -> None:
    summary = process_cohort(CohortRequest(source=source, campaign=load_campaign(campaign)),
                             out)
    assert summary.status == "completed", summary.error


def _frames(out: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    rejections = pl.read_parquet(out / "rejections.parquet")
    records = [json.loads(record) for record in rejections.get_column("record")]
    return pl.read_parquet(out / "recipients.parquet"), rejections.drop("record").with_columns(
        pl.Series("record", [json.dumps(record, sort_keys=True) for record in records]))


def _assert_same_outputs(source: Path, campaign: Path, tmp_path: Path) -> None:
    fast, other = tmp_path / "fast", tmp_path / "peer"
    _cohortflow(source, campaign, fast)
    counts = peer.process(source, campaign, other)

    assert compare_outputs(fast, other) == "identical"
    (fast_recipients, fast_rejections), (recipients, rejections) = _frames(fast), _frames(other)
    assert recipients.equals(fast_recipients), (fast_recipients.columns, recipients.columns)
    assert rejections.equals(fast_rejections)
    assert counts == {"total": recipients.height + rejections.height,
                      "valid": recipients.height, "rejected": rejections.height}


def test_the_peer_gives_cohortflows_outputs_on_a_generated_cohort(tmp_path: Path) -> None:
    source = generate.write_cohort(tmp_path, 3_000)
    _assert_same_outputs(source, tmp_path / "bench.yaml", tmp_path)


def test_the_peer_gives_cohortflows_outputs_on_odd_spellings(tmp_path: Path) -> None:
    source = tmp_path / "odd.csv"
    source.write_text(ODD_ROWS, encoding="utf-8")
    (tmp_path / "odd.yaml").write_text(ODD_CAMPAIGN, encoding="utf-8")
    _assert_same_outputs(source, tmp_path / "odd.yaml", tmp_path)

    reasons = dict(pl.read_parquet(tmp_path / "peer" / "rejections.parquet")
                   .select("row_number", "rejected_reason").iter_rows())
    assert reasons[8].startswith("invalid_phone: the cell holds two phone numbers")
    assert reasons[13] == "duplicate_phone: same number as row 1, which is kept"
    assert reasons[14] == "missing_required:name: required value is empty"
    assert 15 not in reasons  # its number's first row was rejected for another reason
    assert reasons[2].startswith("render_error: template: ")  # no amount to index
    recipients = pl.read_parquet(tmp_path / "peer" / "recipients.parquet")
    assert recipients.filter(pl.col("row_number") == 7).get_column("phone_extension").item() == "12"
    assert (tmp_path / "peer" / "rejected.csv").read_text("utf-8").count("'=SUM(1)") == 1


def test_the_peer_refuses_what_it_does_not_support(tmp_path: Path) -> None:
    source = tmp_path / "odd.csv"
    source.write_text(ODD_ROWS, encoding="utf-8")
    (tmp_path / "dnc.csv").write_text("phone\n+919876543210\n", encoding="utf-8")
    (tmp_path / "odd.yaml").write_text(ODD_CAMPAIGN + f"dnc: {tmp_path / 'dnc.csv'}\n",
                                       encoding="utf-8")
    with pytest.raises(SystemExit, match="no DNC list"):
        peer.process(source, tmp_path / "odd.yaml", tmp_path / "peer")


def test_simple_templates_are_text_and_variables_only() -> None:
    env = peer.ImmutableSandboxedEnvironment()
    assert peer.simple_parts(env.parse("Hi {{ name }}, {{ amount }}!")) == [
        (False, "Hi "), (True, "name"), (False, ", "), (True, "amount"), (False, "!")]
    assert peer.simple_parts(env.parse("Hi {{ name | title }}")) is None
    assert peer.simple_parts(env.parse("{% if name %}x{% endif %}")) is None


def test_the_peers_contracts_are_cohortflows() -> None:
    kinds = {"integer": pl.Int64, "text": pl.String}
    for name, rules in peer.CONTRACTS.items():
        assert {column: (kinds[rule.kind], rule.minimum, rule.pattern, rule.unique)
                for column, rule in CONTRACTS[name].items()} == {
            column: (rule.dtype, rule.minimum, rule.pattern, rule.unique)
            for column, rule in rules.items()}


def test_outputs_that_break_a_contract_are_refused() -> None:
    recipients = pl.DataFrame({"row_number": [1, 2], "phone_number": ["+919876543210"] * 2,
                               "region": ["IN", "in"]})
    with pytest.raises(ValueError, match="phone_number: unique; region: pattern"):
        peer.check_contract(recipients, "Recipients")
    peer.check_contract(recipients.head(1), "Recipients")
