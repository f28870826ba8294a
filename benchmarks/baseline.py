"""The straightforward way, for comparison: ``python -m benchmarks.baseline FILE CAMPAIGN OUT``.

What most teams would write: pandas ``read_csv(dtype=str)``, ``phonenumbers`` called per row,
the same row rules in Python, Jinja rendered per row, the pandera contract on the whole pandas
frame, ``to_csv``. It reuses cohortflow's configuration (campaign, inferred mapping, template,
reason texts and formula-injection rule) so that its outputs can be compared with
``cohortflow process``: ``recipients.csv`` (row_number, phone_number, region, fields, message),
``rejections.csv`` (row_number, rejected_reason) and ``rejected.csv`` (original columns +
rejected_reason). Formatting macros and DNC lists are not supported (the benchmark uses none).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import pandas as pd
import pandera.pandas as pd_schema
import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

from cohortflow import phones
from cohortflow.config import infer_mapping, load_campaign
from cohortflow.ingest.contracts import CONTRACTS, rule_checks
from cohortflow.render import MessageTemplate, csv_safe
from cohortflow.render.jinja import error_detail


def pandas_schema(name: str) -> pd_schema.DataFrameSchema:
    """cohortflow's contract ``name``, built for pandas frames (the same column rules)."""
    types = {"integer": "int64", "text": str}
    return pd_schema.DataFrameSchema(
        {column: pd_schema.Column(types[rule.kind], rule_checks(pd_schema.Check, rule),
                                  unique=rule.unique)
         for column, rule in CONTRACTS[name].items()},
        name=name, strict=False, coerce=False,
    )


def validate_phone(value: str | None, region: str) -> tuple[str | None, str | None, str]:
    """(e164, region, error) for one cell, as cohortflow defines a valid number."""
    if value is None or not value.strip():
        return None, None, "phone number is empty" if value is None else phones.EMPTY
    try:
        number = phonenumbers.parse(value, region)
    except NumberParseException as exc:
        return None, None, phones.PARSE_ERRORS.get(exc.error_type, "could not be parsed")
    if phonenumbers.is_valid_number(number):
        e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
        if phones.too_long_for_e164(e164):
            return None, None, phones.E164_TOO_LONG
        return e164, phonenumbers.region_code_for_number(number), ""
    return None, None, phones.invalid_detail(number)


def process(source: Path, campaign_path: Path, out: Path) -> dict[str, int]:
    """Validate ``source`` and write the three CSV files into ``out``; returns counts."""
    campaign = load_campaign(campaign_path)
    region = campaign.default_region
    frame = pd.read_csv(source, dtype=str, keep_default_na=False, na_values=[""])
    frame = frame.astype(object).where(frame.notna(), None)
    headers = list(frame.columns)
    mapping = infer_mapping(headers, set(campaign.variables) or None)
    fields = mapping.output_fields()
    template = (MessageTemplate.compile(campaign.template, field="template")
                if campaign.template else None)
    phone_column = mapping.phone_number.column_name or ""
    records = frame.to_dict("records")
    kept: dict[str, int] = {}
    recipients: list[dict[str, object]] = []
    rejected_rows: list[tuple[int, str]] = []
    for row_number, record in enumerate(records, start=1):
        e164, number_region, error = validate_phone(record[phone_column], region)
        reasons = [] if e164 else [f"invalid_phone: {error}"]
        values = {name: record[spec.column_name] if spec.column_name else spec.value
                  for name, spec in fields.items()}
        for name, spec in fields.items():
            if spec.required and not (values[name] or "").strip():
                reasons.append(f"missing_required:{name}: required value is empty")
        message = None
        if not reasons and template is not None:
            try:
                message = template.render({**values, "phone_number": e164,
                                           "region": number_region})
            except Exception as exc:
                reasons.append(f"render_error: template: {error_detail(exc)}")
        if not reasons and e164 is not None:
            if e164 in kept:
                reasons.append(f"duplicate_phone: same number as row {kept[e164]}, which is kept")
            else:
                kept[e164] = row_number
        if reasons:
            rejected_rows.append((row_number, "; ".join(reasons)))
        else:
            recipients.append({"row_number": row_number, "phone_number": e164,
                               "region": number_region, **values,
                               **({"message": message} if template is not None else {})})
    recipients_frame = pd.DataFrame(recipients)
    pandas_schema("Recipients").validate(recipients_frame, lazy=True)
    rejections = pd.DataFrame(rejected_rows, columns=["row_number", "rejected_reason"])
    rejections["reason_code"] = rejections["rejected_reason"].str.split(": ").str[0]
    pandas_schema("Rejections").validate(rejections, lazy=True)
    out.mkdir(parents=True, exist_ok=True)
    recipients_frame.to_csv(out / "recipients.csv", index=False)
    rejections[["row_number", "rejected_reason"]].to_csv(out / "rejections.csv", index=False)
    originals = frame.iloc[[n - 1 for n, _ in rejected_rows]].copy()
    originals.columns = [csv_safe(h) for h in headers]
    originals["rejected_reason"] = rejections["rejected_reason"].to_numpy()
    originals = originals.map(csv_safe)
    originals.to_csv(out / "rejected.csv", index=False, quoting=csv.QUOTE_MINIMAL)
    return {"total": len(records), "valid": len(recipients), "rejected": len(rejected_rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("campaign", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    print(process(args.file, args.campaign, args.out))


if __name__ == "__main__":
    main()
