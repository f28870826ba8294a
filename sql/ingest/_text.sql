{#- Jinja macros the ingest SQL imports: tests on text that every check shares. -#}
{#- blank(x): x is NULL, empty, or only whitespace, as Python's str.isspace() counts it (so the
    checks in SQL and in Python agree): Unicode's White_Space (TAB, LF, VT, FF, CR, space, NEL,
    NBSP, U+3000, ...) and the ASCII separators U+001C..U+001F. In RE2, \s is only TAB, LF, FF,
    CR and space; \p{Z} the Unicode spaces and line and paragraph separators. DuckDB's trim()
    removes spaces only, so a TAB alone would count as a value. -#}
{%- macro blank(x) -%}
regexp_full_match(coalesce({{ x }}, ''), '[\s\x{0B}\x{1C}-\x{1F}\x{85}\p{Z}]*')
{%- endmacro %}
