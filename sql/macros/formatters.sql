-- Formatting functions for cohort mappings.
--
-- A mapping field may say `"format": "title_case"`; the pipeline then applies the DuckDB macro
-- `fmt_title_case` to that column. To add your own formatter, add a macro here (or in another
-- `*.sql` file of this folder; files are run in name order) following these rules:
--
--   * Name it `fmt_<name>` where <name> is lower-case letters, digits and `_`; the mapping uses
--     `"format": "<name>"`. The prefix keeps formatters apart from DuckDB built-ins
--     (trim, upper, lower, ...).
--   * It takes ONE argument, a VARCHAR, and returns a VARCHAR.
--   * It returns NULL when the value cannot be formatted: the pipeline then rejects the row
--     with reason `format_error:<field>`. Never return NULL for a value that is fine.
--   * The pipeline never calls a formatter on NULL or blank input, so a macro need not handle
--     them (but must not fail on them).
--   * Write `CREATE OR REPLACE TEMP MACRO`: the file is run on every connection that needs it,
--     may run twice, and must not write anything into the catalog database.
--   * Helper macros that are not formatters start with `_fmt_` (never `fmt_`), so they are not
--     offered to mappings. Call them by name (`_fmt_strip(x)`): a cohort is given only the
--     formatters its mapping uses and the `fmt_`/`_fmt_` macros those call, by name, plus every
--     statement that is not a macro (see cohortflow.render.formatters.MacroFiles).
--   * Separate statements with `;`.
--
-- Regular expressions are RE2: `\d` and `\s` are ASCII only; `\p{Z}` matches Unicode spaces
-- (no-break space, thin space, ...).

-- ---------------------------------------------------------------------------------------------
-- Helpers
-- ---------------------------------------------------------------------------------------------

-- Remove leading and trailing whitespace, including Unicode spaces, zero-width space and BOM.
CREATE OR REPLACE TEMP MACRO _fmt_strip(x) AS
    regexp_replace(x, '^[\s\p{Z}\x{200B}\x{FEFF}]+|[\s\p{Z}\x{200B}\x{FEFF}]+$', '', 'g');

-- Upper-case the first character of a word, keep the rest.
CREATE OR REPLACE TEMP MACRO _fmt_capitalize(word) AS
    upper(left(word, 1)) || substr(word, 2);

-- Capitalise one (lower-cased) word; "o'brien" -> "O'Brien" (one letter then an apostrophe),
-- but "don't" -> "Don't".
CREATE OR REPLACE TEMP MACRO _fmt_title_word(word) AS
    CASE
        WHEN regexp_full_match(word, '\pL[''’]\pL.*')
            THEN _fmt_capitalize(left(word, 2)) || _fmt_capitalize(substr(word, 3))
        ELSE _fmt_capitalize(word)
    END;

-- Text dates: lower-case, no ordinal suffixes (3rd -> 3), "sept" -> "sep", and every run of
-- spaces, commas, dots, slashes and dashes turned into one space ("3-Feb-2024" -> "3 feb 2024").
CREATE OR REPLACE TEMP MACRO _fmt_date_words(s) AS
    regexp_replace(
        regexp_replace(
            regexp_replace(lower(s), '(\d)(st|nd|rd|th)\b', '\1', 'g'),
            '\bsept\b', 'sep', 'g'),
        '[\s\p{Z},./-]+', ' ', 'g');

-- Parse a trimmed date; `slash_format` and `dash_format` say the order of D/M/YYYY and D-M-YYYY.
-- Returns a DATE, or NULL for garbage and impossible dates (31/02/2024).
CREATE OR REPLACE TEMP MACRO _fmt_parse_date(s, slash_format, dash_format) AS
    CAST(CASE
        -- 2024-02-03, 2024/02/03, 2024.02.03 (same separator twice)
        WHEN regexp_full_match(s, '\d{4}(-\d{1,2}-|/\d{1,2}/|\.\d{1,2}\.)\d{1,2}')
            THEN try_strptime(regexp_replace(s, '[/.]', '-', 'g'), '%Y-%m-%d')
        -- ISO timestamps, as spreadsheets export dates: 2024-02-03 00:00:00, 2024-02-03T10:00Z
        WHEN regexp_full_match(s, '\d{4}-\d{2}-\d{2}[Tt ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?')
            THEN try_strptime(left(s, 10), '%Y-%m-%d')
        -- 20240203
        WHEN regexp_full_match(s, '\d{8}')
            THEN try_strptime(s, '%Y%m%d')
        WHEN regexp_full_match(s, '\d{1,2}/\d{1,2}/\d{4}')
            THEN try_strptime(s, slash_format)
        WHEN regexp_full_match(s, '\d{1,2}-\d{1,2}-\d{4}')
            THEN try_strptime(s, dash_format)
        -- 03.02.2024 is day-first everywhere it is written
        WHEN regexp_full_match(s, '\d{1,2}\.\d{1,2}\.\d{4}')
            THEN try_strptime(s, '%d.%m.%Y')
        -- 3 Feb 2024, 3rd February 2024, 03-Feb-2024
        WHEN regexp_full_match(_fmt_date_words(s), '\d{1,2} [a-z]+ \d{4}')
            THEN try_strptime(_fmt_date_words(s), ['%d %b %Y', '%d %B %Y'])
        -- Feb 3 2024, February 3rd, 2024
        WHEN regexp_full_match(_fmt_date_words(s), '[a-z]+ \d{1,2} \d{4}')
            THEN try_strptime(_fmt_date_words(s), ['%b %d %Y', '%B %d %Y'])
    END AS DATE);

-- An amount split into its parts: optional "(" ... ")" (accounting negative), a sign before or
-- after an optional currency (₹ $ € £ ¥ Rs INR USD EUR GBP), the number, an optional currency.
CREATE OR REPLACE TEMP MACRO _fmt_amount_parts(s) AS
    regexp_extract(
        s,
        '(?i)^(\()?[\s\p{Z}]*([+-])?[\s\p{Z}]*(?:₹|\$|€|£|¥|rs\.?|inr|usd|eur|gbp)?[\s\p{Z}]*([+-])?'
        || '[\s\p{Z}]*([0-9.,][0-9.,''\s\p{Z}]*)'
        || '(?:₹|\$|€|£|¥|rs\.?|inr|usd|eur|gbp)?[\s\p{Z}]*(\))?$',
        ['open', 'sign1', 'sign2', 'number', 'close']);

-- The digits and separators of an amount (no spaces) as plain decimal text, or NULL.
-- A lone separator followed by exactly three digits is a thousands separator ("1,234" and
-- "1.234.567"), except that one dot with digits after it is a decimal point ("1.234").
CREATE OR REPLACE TEMP MACRO _fmt_amount_number(s) AS
    CASE
        -- 1234 and 1234.56
        WHEN regexp_full_match(s, '\d+|\d*\.\d+') THEN s
        -- 1,234,567.89
        WHEN regexp_full_match(s, '\d{1,3}(,\d{3})+(\.\d+)?') THEN replace(s, ',', '')
        -- Indian grouping: 12,34,567.89
        WHEN regexp_full_match(s, '\d{1,2}(,\d{2})+,\d{3}(\.\d+)?') THEN replace(s, ',', '')
        -- European: 1.234.567,89 and 1.234.567
        WHEN regexp_full_match(s, '\d{1,3}(\.\d{3})+,\d+|\d{1,3}(\.\d{3}){2,}')
            THEN replace(replace(s, '.', ''), ',', '.')
        -- Decimal comma: 1234,56
        WHEN regexp_full_match(s, '\d+,\d+') THEN replace(s, ',', '.')
    END;

-- Leading zeros dropped ("007" -> "7", ".5" -> "0.5").
CREATE OR REPLACE TEMP MACRO _fmt_amount_tidy(n) AS
    regexp_replace(regexp_replace(n, '^0+(\d)', '\1'), '^\.', '0.');

CREATE OR REPLACE TEMP MACRO _fmt_amount_signed(negative, n) AS
    CASE
        WHEN n IS NULL THEN NULL
        WHEN negative AND regexp_matches(n, '[1-9]') THEN '-' || n
        ELSE n
    END;

CREATE OR REPLACE TEMP MACRO _fmt_amount_from_parts(p) AS
    CASE
        WHEN p.number = '' THEN NULL
        WHEN (p.open = '') <> (p.close = '') THEN NULL
        WHEN p.sign1 <> '' AND p.sign2 <> '' THEN NULL
        WHEN p.open <> '' AND (p.sign1 <> '' OR p.sign2 <> '') THEN NULL
        -- the number is computed once and bound to n (see fmt_amount)
        ELSE list_transform(
            [_fmt_amount_tidy(_fmt_amount_number(regexp_replace(p.number, '[\s\p{Z}'']', '', 'g')))],
            lambda n: _fmt_amount_signed(p.open <> '' OR p.sign1 = '-' OR p.sign2 = '-', n))[1]
    END;

-- ---------------------------------------------------------------------------------------------
-- Formatters
-- ---------------------------------------------------------------------------------------------

-- "  Asha  " -> "Asha" (Unicode spaces too).
CREATE OR REPLACE TEMP MACRO fmt_trim(x) AS
    _fmt_strip(x);

-- "asha" -> "ASHA".
CREATE OR REPLACE TEMP MACRO fmt_upper(x) AS
    upper(x);

-- "ASHA" -> "asha".
CREATE OR REPLACE TEMP MACRO fmt_lower(x) AS
    lower(x);

-- "ÉLODIE o'brien-SMITH" -> "Élodie O'Brien-Smith". Words are split on spaces and dashes;
-- spacing is kept as it is (use trim separately).
CREATE OR REPLACE TEMP MACRO fmt_title_case(x) AS
    array_to_string(
        list_transform(
            regexp_extract_all(lower(x), '[^\s\p{Z}\-‐–—]+|[\s\p{Z}\-‐–—]+'),
            lambda part: _fmt_title_word(part)),
        '');

-- "+91 (98765) 43210" -> "919876543210"; full-width digits count; NULL when there is no digit.
-- ASCII text (as many bytes as characters) has no full-width digit to translate, and each run
-- of non-digits is removed at once.
CREATE OR REPLACE TEMP MACRO fmt_digits_only(x) AS
    nullif(
        regexp_replace(
            CASE WHEN strlen(x) = length(x) THEN x
                 ELSE translate(x, '０１２３４５６７８９', '0123456789') END,
            '[^0-9]+', '', 'g'),
        '');

-- Dates to ISO "YYYY-MM-DD". Day first for D/M/YYYY and D-M-YYYY; also YYYY-MM-DD, YYYY/MM/DD,
-- YYYYMMDD, DD.MM.YYYY, "3 Feb 2024", "Feb 3, 2024", ISO timestamps. NULL on anything else,
-- on two-digit years, and on impossible dates (31/02/2024).
CREATE OR REPLACE TEMP MACRO fmt_iso_date(x) AS
    strftime(_fmt_parse_date(_fmt_strip(x), '%d/%m/%Y', '%d-%m-%Y'), '%Y-%m-%d');

-- As fmt_iso_date, but month first for M/D/YYYY and M-D-YYYY (US files). DD.MM.YYYY stays
-- day first.
CREATE OR REPLACE TEMP MACRO fmt_iso_date_us(x) AS
    strftime(_fmt_parse_date(_fmt_strip(x), '%m/%d/%Y', '%m-%d-%Y'), '%Y-%m-%d');

-- Amounts to plain decimal text: "₹1,23,456.78" -> "123456.78", "USD 1,234" -> "1234",
-- "1.234,56 €" -> "1234.56", "(1,000)" and "-Rs. 1000" -> "-1000". Decimals are kept as
-- written ("10.50" stays "10.50"). NULL on garbage.
-- A macro's parameter is replaced by a copy of its argument wherever it is used: p is used a
-- dozen times, and the number in it again in every test of _fmt_amount_number, so the parts
-- would be extracted some thirty times per value. list_transform([v], lambda p: ...)[1] binds
-- v once.
CREATE OR REPLACE TEMP MACRO fmt_amount(x) AS
    list_transform([_fmt_amount_parts(_fmt_strip(x))], lambda p: _fmt_amount_from_parts(p))[1];

-- Spreadsheet formula injection (OWASP "CSV injection"): a cell starting with = + - @ tab or
-- carriage return gets a leading single quote, so the original value stays recoverable.
CREATE OR REPLACE TEMP MACRO fmt_csv_safe(x) AS
    CASE
        WHEN regexp_matches(x, '^[=+\-@\t\r]') THEN '''' || x
        ELSE x
    END;
