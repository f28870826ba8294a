-- duplicates: marks the repeats in final_chunk (03_outcomes.sql) as duplicate_phone (for a
-- campaign of users, duplicate_user), judged among the rows that pass every other check (render
-- included): the first occurrence of a number is kept, later ones name the kept row, also
-- across chunks (seen: {{ key.column }}, kept_row of earlier chunks). An UPDATE of the few
-- repeats (about 50,000 of 1M rows), so that the chunk's checked rows are read once, by the
-- statement that writes final_chunk, instead of being held for a second reading.
update final_chunk
set rejected_reason = {{ key.reason | literal }} || ' ' || kept.kept_row || ', which is kept'
from (
    -- only the numbers that repeat: twice in this chunk, or kept by an earlier chunk (whose
    -- row is the one kept). Most numbers occur once: the join looks rows up in a table of the
    -- few repeated numbers, not of every number.
    select kept_here.{{ key.column }}, coalesce(seen.kept_row, kept_here.kept_row) as kept_row
    from (
        -- per number, the first row of this chunk that passes, and how many pass (an
        -- aggregate: cheaper than a window)
        select {{ key.column }}, min(row_number) as kept_row, count(*) as passing
        from final_chunk
        where rejected_reason is null
        group by {{ key.column }}
    ) as kept_here
    left join seen using ({{ key.column }})
    where kept_here.passing > 1 or seen.kept_row is not null
) as kept
where final_chunk.{{ key.column }} = kept.{{ key.column }}
  and final_chunk.rejected_reason is null
  and kept.kept_row < final_chunk.row_number
