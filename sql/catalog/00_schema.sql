-- The analysts' catalog: cohorts, their recipients and rejections, and the files seen.
create table if not exists cohorts (
    cohort_id varchar primary key,
    campaign_id varchar not null,
    name varchar,
    status varchar not null,
    source_type varchar,
    source varchar,
    sha256 varchar,
    total_records bigint,
    valid_records bigint,
    rejected_records bigint,
    rejected_reasons json,
    error varchar,
    error_code varchar,
    mapping json,
    mapping_inferred boolean,
    created_at timestamptz,
    updated_at timestamptz,
    artefacts varchar
);
create table if not exists recipients (
    cohort_id varchar not null,
    campaign_id varchar not null,
    row_number bigint not null,
    phone_number varchar,  -- null for a user of a campaign of users without a phone
    region varchar,
    user_identifier varchar,
    variables json,
    message varchar,
    payload json
);
-- Catalogs created before campaigns of users held phone_number not null.
alter table recipients alter column phone_number drop not null;
create table if not exists rejections (
    cohort_id varchar not null,
    campaign_id varchar not null,
    row_number bigint not null,
    rejected_reason varchar not null,
    reason_code varchar not null,
    record json
);
create table if not exists files (
    source varchar not null,
    sha256 varchar not null,
    campaign_id varchar not null,
    cohort_id varchar not null,
    outcome varchar not null,          -- processed | failed | duplicate
    duplicate_of varchar,
    moved_to varchar,
    seen_at timestamptz not null
);
