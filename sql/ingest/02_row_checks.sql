-- checked: every row with its E.164 number (and phone_key, the same number as an integer: its
-- digits after '+', which E.164 keeps to 15, the first never 0), region, the extension its
-- phone cell holds, formatted fields and the row-level reasons found so far (invalid phone,
-- malformed row, missing required field, formatting failure, do-not-contact).
-- key: what makes two rows the same recipient (ingest/fields.py DedupeKey): phone_key, or for
-- a campaign of users user_key, the user identifier; there the phone is optional (no column,
-- or a blank cell, is no reason) and a phone that is given must still be valid.
-- phone_lookup(row_number, e164, region, error) holds the result of each row with a phone;
-- phone_notes(row_number, extension, second_number) what else the parser read from a phone
-- cell (ingest/phone_notes.py); raw_extras(row_number, extras) the surplus fields of rows
-- longer than the header; dnc_numbers(e164) the campaign's do-not-contact list.
-- A query: 03_outcomes.sql includes it as its `checked` CTE (simple templates), or ingest.py
-- materialises it for the Jinja renderer.
{%- from "ingest/_text.sql" import blank %}
with fields as (
{% include "ingest/01_fields.sql" %}
)
select
    fields.row_number,
    phone_lookup.e164,
    substr(phone_lookup.e164, 2)::bigint as phone_key,
    {%- if key.column != "phone_key" %}
    {{ key.value_sql }} as {{ key.column }},
    {%- endif %}
    phone_lookup.region,
    case when not phone_notes.second_number then phone_notes.extension end as phone_extension,
    {%- for field in fields %}
    fields.value_{{ field.index }},
    {%- endfor %}
    -- the reasons found, joined by '; ' in this order; NULL when there is none (concat_ws skips
    -- NULLs; at 1M rows the dedupe statement takes 2 to 5% less CPU than with a list filtered by
    -- list_filter() and joined at the end)
    nullif(concat_ws('; ',
        {%- if key.column == "phone_key" %}
        case when phone_lookup.e164 is null
             then 'invalid_phone: ' || coalesce(phone_lookup.error, 'phone number is empty')
        {%- elif phone_column %}
        case when phone_lookup.e164 is null and not {{ blank("fields.raw_phone") }}
             then 'invalid_phone: ' || coalesce(phone_lookup.error, 'phone number is empty')
        {%- else %}
        case when false then null
        {%- endif %}
             when phone_notes.second_number
             then 'invalid_phone: the cell holds two phone numbers (the parser read the second '
                  || 'as an extension); put each number on a row of its own' end,
        case when raw_extras.extras is not null
             then 'malformed_row: the row has more fields than the header; the extra fields: '
                  || to_json(raw_extras.extras) end,
        {%- for field in fields if field.required %}
        case when {{ blank("raw_" ~ field.index) }}
             then {{ ("missing_required:" ~ field.name ~ ": required value is empty") | literal }} end,
        {%- endfor %}
        {%- for field in fields if field.format %}
        case when format_failed_{{ field.index }}
             then {{ ("format_error:" ~ field.name ~ ": " ~ field.format ~ " cannot format this value") | literal }} end,
        {%- endfor %}
        case when phone_lookup.e164 in (select e164 from dnc_numbers)
             then 'do_not_contact: the number is on the do-not-contact list' end
    ), '') as reasons
from fields
left join phone_lookup on phone_lookup.row_number = fields.row_number
left join phone_notes on phone_notes.row_number = fields.row_number
left join raw_extras on raw_extras.row_number = fields.row_number
