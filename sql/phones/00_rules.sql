-- Phone-number rules of some regions as TEMP macros, generated from phonenumbers' own metadata
-- (never hard-coded; see cohortflow/phones/rules.py). One set per metadata key <k> (a region
-- code, or n<code> for a non-geographic calling code such as +800). Each takes a column (a
-- string of ASCII digits, whose length is strlen()) and runs at most the regular expressions its
-- name says:
--   _ph_gen_<k>(n)    the general national-number pattern matches n (no length check)
--   _ph_np_<k>(n)     length of the national prefix for parsing at the start of n (0: none);
--                     -1 where a transform rule the SQL cannot mirror would apply (undecided)
--   _ph_tf_<k>(n)     n transformed by the national prefix's transform rule, when it applies
--                     (the rule's last group matched); NULL when it does not. Only for the
--                     keys that have such a rule: the statements call no other (one macro
--                     fewer to create per region)
--   _ph_len_<k>(n)    _test_number_length, one character (cohortflow.phones.rules.LENGTH_CODES):
--                     'o' ok, 'l' local, 's' short, 'g' long, 'i' invalid, for n not NULL; NULL
--                     (the library decides) where the metadata gives no lengths. Picked out of
--                     the key's string of one answer per length (rule.length_classes): a CASE
--                     over the lengths took a quarter of the time to bind the judge
--   _ph_valid_<k>(n)  _number_type_helper(n) is not UNKNOWN (the number is valid there)
-- A prefix pattern that cannot match the empty string needs one call: length 0 = no match.
-- A set of lengths is a bit mask tested with a shift: the optimizer would turn an IN list or
-- list_contains into a join over every row of the query, even under a CASE branch.
{%- macro length_in(mask, n) -%}
((({{ mask }}::UBIGINT >> least(strlen({{ n }}), 63)::UBIGINT) & 1) = 1)
{%- endmacro %}
{% for rule in rules %}
CREATE OR REPLACE TEMP MACRO _ph_gen_{{ rule.key }}(n) AS
    {% if rule.general_pattern %}regexp_full_match(n, {{ rule.general_pattern | literal }}){% else %}false{% endif %};

CREATE OR REPLACE TEMP MACRO _ph_np_{{ rule.key }}(n) AS
    {%- if not rule.national_prefix %}
    0;
    {%- elif rule.literal_prefix and not rule.transform_group and not rule.undecided_transform %}
    CASE WHEN starts_with(n, {{ rule.national_prefix | literal }}) THEN {{ rule.national_prefix | length }} ELSE 0 END;
    {%- elif rule.undecided_transform %}
    CASE WHEN regexp_matches(n, {{ ("^(?:" ~ rule.national_prefix ~ ")") | literal }}) THEN -1 ELSE 0 END;
    {%- else %}
    strlen(regexp_extract(n, {{ ("^(?:" ~ rule.national_prefix ~ ")") | literal }}));
    {%- endif %}

{%- if rule.transform_group %}
CREATE OR REPLACE TEMP MACRO _ph_tf_{{ rule.key }}(n) AS
    CASE WHEN regexp_extract(n, {{ ("^(?:" ~ rule.national_prefix ~ ")") | literal }}, {{ rule.transform_group }}) <> ''
         THEN regexp_replace(n, {{ ("^(?:" ~ rule.national_prefix ~ ")") | literal }}, {{ rule.transform_rewrite | literal }}) END;
{%- endif %}

CREATE OR REPLACE TEMP MACRO _ph_len_{{ rule.key }}(n) AS
    {%- if rule.length_classes %}
    substr({{ rule.length_classes | literal }}, least(strlen(n), {{ rule.length_classes | length - 1 }}) + 1, 1);
    {%- else %}
    NULL::varchar;
    {%- endif %}

CREATE OR REPLACE TEMP MACRO _ph_valid_{{ rule.key }}(n) AS
    {%- if rule.general_pattern and rule.types_pattern %}
    CASE WHEN {% if rule.lengths %}{{ length_in(rule.length_mask, 'n') }} AND {% endif %}_ph_gen_{{ rule.key }}(n)
         -- every number type at once: chr(65 + length) then the number, so that a type's
         -- possible lengths are part of its alternative ([K](?:pattern) for length 10).
         THEN regexp_full_match(chr((65 + strlen(n))::integer) || n, {{ rule.types_pattern | literal }})
         ELSE false END;
    {%- else %}
    false;
    {%- endif %}
{% endfor %}
