-- One landing file seen by cohort_ingest (re-recording the same file replaces its row).
delete from files where source = $source and sha256 = $sha256;
insert into files values (
    $source, $sha256, $campaign_id, $cohort_id, $outcome, $duplicate_of, $moved_to,
    now()
);
