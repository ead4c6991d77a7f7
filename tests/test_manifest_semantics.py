"""Manifest semantics: nested variables, json values, self-mappings, collisions, the 1.1 schema.

Pure and fast: manifests are parsed without AWS (issue 8 items 3, 6, 7, 11; SPEC "1.1 additions").
A few go through ``reconciler validate`` to show the exit code and that nothing is a traceback.
"""

from __future__ import annotations

import textwrap
import time

import pytest

from reconciler._exceptions import ManifestError
from reconciler.manifest import Manifest, parse_manifest
from reconciler.manifest import variables as _variables
from reconciler.manifest.collisions import check_collisions


def load(text: str) -> Manifest:
    return parse_manifest(textwrap.dedent(text), origin="m.yaml", base_dir=None)


def problems(text: str) -> str:
    with pytest.raises(ManifestError) as exc:
        load(text)
    return str(exc.value)


@pytest.fixture(autouse=True)
def _known_default_region(monkeypatch: pytest.MonkeyPatch) -> None:
    # what boto3 will use for an endpoint without a region (tests that need it unknown delete it)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


# --- variables (issue 8 item 6) -------------------------------------------------------------------


def test_variables_use_other_variables_and_builtins_stay_for_run_time():
    m = load("""
        version: 1
        variables: {ENV: prod, HOST: "db.${ENV}.${REGION}.internal", URL: "https://${HOST}/$${x}"}
        mappings:
          - {id: a, source: prod/a, destination: {name: "dr/${ENV}/a", region: eu-west-1},
             transform: [{json: {"$.url": "${URL}", "$.host": "${HOST}"}}]}
    """)
    d = m.mappings[0].destinations[0]
    values = dict(d.variables)
    # a destination carries the variables its name and steps use, custom ones expanded, built-ins kept
    assert values == {"ENV": "prod", "HOST": "db.prod.${REGION}.internal",
                      "URL": "https://db.prod.${REGION}.internal/$${x}"}  # $$ stays an escape
    run_time = {**values, "REGION": "eu-west-1"}
    assert _variables.expand("${URL}", run_time) == "https://db.prod.eu-west-1.internal/${x}"
    assert _variables.closure(["URL"], values) == ("REGION", "URL")


def test_a_mapping_override_changes_the_manifest_variables_that_use_it():
    m = load("""
        version: 1
        variables: {ENV: prod, HOST: "db.${ENV}.internal"}
        mappings:
          - {id: a, source: prod/a, destination: {name: dr/a, region: eu-west-1}, transform: [{sed: "s/h/${HOST}/"}]}
          - {id: b, source: prod/b, destination: {name: dr/b, region: eu-west-1, variables: {ENV: staging}},
             transform: [{sed: "s/h/${HOST}/"}]}
    """)
    assert dict(m.mappings[0].destinations[0].variables)["HOST"] == "db.prod.internal"
    assert dict(m.mappings[1].destinations[0].variables)["HOST"] == "db.staging.internal"


@pytest.mark.parametrize("variables, message", [
    ('{A: "${B}", B: "${C}", C: "${A}"}', "field 'variables': variables refer to each other in a cycle: "
                                          "${A} -> ${B} -> ${C} -> ${A}"),
    ('{A: "x${A}"}', "cycle: ${A} -> ${A}"),
    ('{A: "${B}", B: "-${NOPE}-"}', "field 'variables': ${A} uses ${B} uses undefined variable ${NOPE}"),
    ('{A: "${B"}', "undefined variable ${${B}"),
])
def test_variable_cycles_and_undefined_names_are_load_errors(variables, message):
    out = problems(f"""
        version: 1
        variables: {variables}
        mappings: [{{source: prod/a, destination: {{name: dr/a, region: eu-west-1}}}}]
    """)
    assert message in out


def test_a_cycle_made_by_a_destination_override_names_that_destination():
    out = problems("""
        version: 1
        variables: {A: "${B}", B: "b"}
        mappings:
          - {id: m, source: prod/a, destination: {name: dr/a, region: eu-west-1, variables: {B: "${A}"}}}
    """)
    assert "mapping 'm' (mappings[0]): field 'destination.variables': variables refer to each other" in out


def test_doubling_variables_are_refused_before_they_are_built():
    # A: ${V1}${V1}, V1: ${V2}${V2}, ... 2**60 characters if expanded
    chain = ", ".join(f'V{i}: "${{V{i + 1}}}${{V{i + 1}}}"' for i in range(60))
    started = time.perf_counter()
    out = problems(f"""
        version: 1
        variables: {{{chain}, V60: "xxxxxxxx"}}
        mappings: [{{source: prod/a, destination: {{name: dr/a, region: eu-west-1}}}}]
    """)
    assert time.perf_counter() - started < 60  # ms when refused; unbounded (2**60) if ever built
    assert f"would be over {_variables.MAX_VARIABLE_LENGTH} characters after expanding variables" in out


def test_a_rule_that_repeats_a_long_variable_is_refused():
    out = problems(f"""
        version: 1
        variables: {{BIG: "{'x' * 60_000}"}}
        mappings:
          - {{id: m, source: prod/a, destination: {{name: dr/a, region: eu-west-1}},
              transform: [{{sed: "s/a/{'${BIG}' * 20}/"}}]}}
    """)
    assert "field 'transform'" in out and "would be over" in out


def test_a_long_chain_of_variables_resolves_without_recursion():
    chain = ", ".join(f'V{i}: "${{V{i + 1}}}"' for i in range(5000))
    m = load(f"""
        version: 1
        variables: {{{chain}, V5000: end}}
        mappings: [{{source: prod/a, destination: {{name: "dr/${{V0}}", region: eu-west-1}}}}]
    """)
    assert dict(m.mappings[0].destinations[0].variables)["V0"] == "end"


def test_an_unused_broken_override_is_still_an_error():
    out = problems("""
        version: 1
        mappings:
          - {id: m, source: prod/a, destination: {name: dr/a, region: eu-west-1}, variables: {X: "${NOPE}"}}
    """)
    assert "mapping 'm' (mappings[0]): field 'variables': ${X} uses undefined variable ${NOPE}" in out


def test_overrides_that_make_resolution_quadratic_are_refused_once():
    # 300 chained variables, each of 1,000 mappings overrides the last one and uses the first
    chain = ", ".join(f'V{i}: "x${{V{i + 1}}}"' for i in range(300))
    mappings = "".join(f"  - {{id: m{i}, source: a/s{i}, destination: {{name: 'b/s${{V0}}', region: us-west-2}}, "
                       f"variables: {{V300: '{i}'}}}}\n" for i in range(1000))
    out = problems(f"version: 1\nvariables: {{{chain}}}\nmappings:\n{mappings}")
    assert out.count(f"resolving the variables takes over {_variables.MAX_RESOLUTION_STEPS} steps") == 1


# --- json values (issue 8 item 7) -----------------------------------------------------------------


@pytest.mark.parametrize("value, where, why", [
    ("2024-01-01", "json.$.a", "a YAML date/timestamp (2024-01-01) is not JSON"),
    ("2024-01-01 10:00:00", "json.$.a", "date/timestamp"),
    ("!!binary aGVsbG8=", "json.$.a", "!!binary value is not JSON"),
    ("!!set {a, b}", "json.$.a", "!!set is not JSON"),
    (".nan", "json.$.a", "NaN and infinity are not JSON"),
    ("{x: [1, -.inf]}", "json.$.a.x[1]", "NaN and infinity are not JSON"),
    ("{1: one}", "json.$.a", "a JSON object's keys are strings"),
])
def test_json_values_must_be_json(value, where, why):
    out = problems(f"""
        version: 1
        mappings:
          - {{id: m, source: prod/a, destination: {{name: dr/a, region: eu-west-1}},
              transform: [{{json: {{"$.a": {value}}}}}]}}
    """)
    assert f"mapping 'm' (mappings[0]): field 'transform[0].{where}': " in out and why in out


def test_json_values_that_are_json_and_find_replace_entries_are_accepted():
    m = load("""
        version: 1
        mappings:
          - source: prod/a
            destination: {name: dr/a, region: eu-west-1}
            transform:
              - json: {"$.a": {b: [1, 2.5, true, null, "s"]}, "$.host": {find: prod, replace: dr}}
    """)
    assert dict(m.mappings[0].steps[0].assignments)["$.host"] == {"find": "prod", "replace": "dr"}


def test_a_yaml_alias_bomb_in_a_json_value_is_refused_fast():
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    levels += [f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]"
               for p, c in zip("abcdefgh", "bcdefghi", strict=True)]
    text = "version: 1\nbomb:\n" + "".join(f"  {line}\n" for line in levels)
    text += ("mappings:\n  - source: prod/a\n    destination: {name: dr/a, region: eu-west-1}\n"
             "    transform: [{json: {'$.a': *i}}]\n")
    started = time.perf_counter()
    with pytest.raises(ManifestError) as exc:
        parse_manifest(text, origin="m.yaml", base_dir=None)
    assert time.perf_counter() - started < 60  # ms when refused; unbounded (2**60) if ever built
    assert "bomb" in str(exc.value) or "values and characters" in str(exc.value)


def test_a_long_string_repeated_through_aliases_in_a_json_value_is_refused():
    text = ("version: 1\nmappings:\n  - source: prod/a\n    destination: {name: dr/a, region: eu-west-1}\n"
            "    transform: [{json: {'$.a': [&s " + "x" * 60_000 + ", " + "*s, " * 50 + "]}}]\n")
    with pytest.raises(ManifestError) as exc:
        parse_manifest(text, origin="m.yaml", base_dir=None)
    assert ("field 'transform[0].json.$.a': over 1048576 values and characters (YAML aliases counted as "
            "written out)") in str(exc.value)


# --- a mapping onto its own source (issue 8 item 3) -----------------------------------------------


def test_a_destination_equal_to_its_source_after_the_default_region_is_a_load_error():
    out = problems("""
        version: 1
        mappings:
          - {id: m, source: {name: prod/a, region: us-east-1}, destination: prod/a, on_existing: adopt,
             transform: [{sed: "s/$/!/"}]}
    """)
    assert ("m.yaml:4: mapping 'm' (mappings[0]): field 'destination.name': the mapping writes onto its own "
            "source (secret prod/a in us-east-1, the default account)") in out


def test_with_the_default_region_unknown_the_check_is_left_to_run_time(monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    load("version: 1\nmappings: [{source: {name: prod/a, region: us-east-1}, destination: prod/a}]\n")
    # both sides without a region use the same default region, whatever it is
    assert "writes onto its own source" in problems("version: 1\nmappings: [{source: prod/a, destination: prod/a}]\n")


@pytest.mark.parametrize("source, destination", [
    ("{name: prod/a, role_arn: 'arn:aws:iam::222222222222:role/r1'}",
     "{name: prod/a, role_arn: 'arn:aws:iam::222222222222:role/r2'}"),
    ("'arn:aws:secretsmanager:us-east-1:222222222222:secret:prod/a-AbCdEf'",
     "{name: prod/a, role_arn: 'arn:aws:iam::222222222222:role/w'}"),
    ("{name: prod/a, profile: p}", "{name: prod/a, profile: p}"),
    ("'prod/*'", "'prod/dr/*'"),
    ("'prod/dr/*'", "'prod/*'"),
])
def test_the_same_account_reached_two_ways_is_the_same_place(source, destination):
    out = problems(f"version: 1\nmappings: [{{source: {source}, destination: {destination}}}]\n")
    assert "writes onto its own source" in out


@pytest.mark.parametrize("source, destination", [
    # the default credentials' account is not known at load: the engine fails the item if it is 222...
    ("prod/a", "{name: prod/a, role_arn: 'arn:aws:iam::222222222222:role/w'}"),
    ("{name: prod/a, profile: p}", "prod/a"),
    ("prod/a", "{name: prod/a, region: eu-west-1}"),
    ("prod/a", "{name: prod/a, service: ssm}"),
    ("'prod/*'", "'prod-dr/*'"),
])
def test_places_not_provably_equal_are_left_to_run_time(source, destination):
    load(f"version: 1\nmappings: [{{source: {source}, destination: {destination}}}]\n")


# --- valid manifests that were refused (issue 8 item 11) ------------------------------------------


def test_builtins_in_destination_names_are_expanded_with_what_is_known():
    load("""
        version: 1
        defaults: {destination: {region: us-west-2}}
        mappings:
          - {id: a, source: {name: prod/db, region: us-east-1}, destination: "dr/${SOURCE_REGION}/db"}
          - {id: b, source: {name: prod/db, region: eu-west-1}, destination: "dr/${SOURCE_REGION}/db"}
          - {id: c, source: "arn:aws:secretsmanager:us-east-1:111111111111:secret:x-AbCdEf",
             destination: "dr/${SOURCE_ACCOUNT_ID}/x"}
          - {id: d, source: "arn:aws:secretsmanager:us-east-1:222222222222:secret:x-AbCdEf",
             destination: "dr/${SOURCE_ACCOUNT_ID}/x"}
          - {id: e, source: prod/e, destination: {name: "e/${REGION}", region: eu-west-1}}
          - {id: f, source: prod/e, destination: {name: "e/${REGION}", region: eu-central-1}}
    """)
    out = problems("""
        version: 1
        defaults: {destination: {region: us-west-2}}
        mappings:
          - {id: a, source: {name: prod/a, region: us-east-1}, destination: "dr/${SOURCE_REGION}/db"}
          - {id: b, source: {name: prod/b, region: us-east-1}, destination: "dr/${SOURCE_REGION}/db"}
    """)
    assert ("mapping 'b' (mappings[1]): field 'destination.name': writes the same destination as mapping 'a' "
            "(destination): secret dr/us-east-1/db in us-west-2, the default account") in out


def test_the_region_of_an_arn_source_wins_over_the_default():
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/a-AbCdEf"
    m = load(f"""
        version: 1
        defaults: {{source: {{region: us-east-1}}}}
        mappings: [{{source: "{arn}", destination: {{name: dr/a, region: us-west-2}}}}]
    """)
    assert m.mappings[0].source.region == "eu-west-1"
    out = problems(f"""
        version: 1
        mappings: [{{source: {{name: "{arn}", region: us-east-1}}, destination: {{name: dr/a, region: us-west-2}}}}]
    """)
    assert "field 'source.region': us-east-1 differs from the ARN's region eu-west-1" in out


# --- the 1.1 schema -------------------------------------------------------------------------------


def test_lifecycle_settings_and_defaults():
    m = load("version: 1\nmappings: [{source: a, destination: {name: b, region: us-west-2}}]\n")
    prune = m.settings.prune
    assert (prune.enabled, prune.max_deletes, prune.recovery_window_days) == (False, 25, 30)
    assert m.mappings[0].on_source_deleted == "keep"
    m = load("""
        version: 1
        settings: {prune: {enabled: true, max_deletes: 0, recovery_window_days: 7}}
        mappings: [{source: a, destination: {name: b, region: us-west-2}, on_source_deleted: delete}]
    """)
    assert m.settings.prune.enabled and m.settings.prune.max_deletes == 0
    assert m.mappings[0].on_source_deleted == "delete"


@pytest.mark.parametrize("settings, mapping, field", [
    ("{prune: {recovery_window_days: 6}}", "", "settings.prune.recovery_window_days"),
    ("{prune: {recovery_window_days: 31}}", "", "settings.prune.recovery_window_days"),
    ("{prune: {max_deletes: -1}}", "", "settings.prune.max_deletes"),
    ("{prune: {enabled: 'false'}}", "", "settings.prune.enabled"),
    ("{prune: {enable: true}}", "", "settings.prune.enable"),
    ("{}", ", on_source_deleted: purge", "on_source_deleted"),
    ("{organizations: {role_arn: nope}}", "", "settings.organizations.role_arn"),
])
def test_lifecycle_and_organizations_settings_are_validated(settings, mapping, field):
    out = problems(f"""
        version: 1
        settings: {settings}
        mappings: [{{source: a, destination: {{name: b, region: us-west-2}}{mapping}}}]
    """)
    assert f"field '{field}'" in out


def test_parameter_store_endpoints():
    m = load("""
        version: 1
        defaults: {destination: {region: us-west-2, tier: Advanced}}
        mappings:
          - {id: a, source: {name: "/app/prod/*", service: ssm}, destination: {name: "/app/dr/*", service: ssm}}
          - {id: b, source: prod/b, destination: {name: /dr/b, service: ssm, type: String, tier: Standard}}
          - {id: c, source: {name: /app/c, service: ssm}, destination: dr/c}
          - {id: d, source: {name: /aws/service/global-infrastructure/version, service: ssm},
             destination: {name: /dr/d, service: ssm, kms_key_id: alias/k}}
    """)
    a, b, c, d = m.mappings
    assert (a.source.service, a.source.prefix, a.source.name) == ("ssm", True, "/app/prod/")
    assert (a.destinations[0].service, a.destinations[0].parameter_type, a.destinations[0].tier) == \
        ("ssm", "SecureString", "Advanced")
    assert (b.destinations[0].parameter_type, b.destinations[0].tier) == ("String", "Standard")
    assert (c.destinations[0].service, c.destinations[0].parameter_type, c.destinations[0].tier) == \
        ("secretsmanager", None, None)
    assert d.destinations[0].kms_key_id == "alias/k"


@pytest.mark.parametrize("destination, field, why", [
    ("{name: dr/a, type: String}", "destination.type", "only a Parameter Store destination"),
    ("{name: dr/a, tier: Advanced}", "destination.tier", "only a Parameter Store destination"),
    ("{name: /dr/a, service: ssm, type: Secure}", "destination.type", "SecureString"),
    ("{name: /dr/a, service: sms}", "destination.service", "ssm"),
    ("{name: '/dr/a b', service: ssm}", "destination.name", "a parameter name has 1-2048 letters"),
    ("{name: /" + "/".join("l" * 16) + ", service: ssm}", "destination.name", "at most 15 levels"),
    ("{name: /AWS/x, service: ssm}", "destination.name", "may not start with 'aws' or 'ssm'"),
    ("{name: ssm-x, service: ssm}", "destination.name", "may not start with 'aws' or 'ssm'"),
    ("{name: /dr/a, service: ssm, type: String, kms_key_id: alias/k}", "destination.kms_key_id", "SecureString"),
])
def test_parameter_store_rules(destination, field, why):
    out = problems(f"version: 1\nmappings: [{{source: prod/a, destination: {destination}}}]\n")
    assert f"field '{field}'" in out and why in out


def test_organizations_accounts_and_a_role_per_account():
    m = load("""
        version: 1
        settings: {organizations: {role_arn: "arn:aws:iam::999999999999:role/org-reader", region: us-east-1}}
        mappings:
          - source: prod/shared/ca
            destination:
              name: shared/ca
              region: us-west-2
              accounts: {organizational_units: [ou-ab12-34cd5678, r-ab12], exclude: ["333333333333"]}
              role_arn: "arn:aws:iam::${ACCOUNT_ID}:role/replica-writer"
    """)
    assert m.settings.organizations is not None
    assert m.settings.organizations.role_arn == "arn:aws:iam::999999999999:role/org-reader"
    d = m.mappings[0].destinations[0]
    assert d.accounts is not None
    assert d.accounts.organizational_units == ("ou-ab12-34cd5678", "r-ab12")
    assert d.accounts.exclude == ("333333333333",)
    assert d.identity.per_account and d.identity.account_hint is None
    assert d.identity.for_account("444444444444").role_arn == "arn:aws:iam::444444444444:role/replica-writer"


@pytest.mark.parametrize("destination, field, why", [
    ("{name: x, accounts: {organizational_units: [ou-ab12-34cd5678]}}", "destination.accounts",
     "needs a role_arn naming ${ACCOUNT_ID}"),
    ("{name: x, role_arn: 'arn:aws:iam::${ACCOUNT_ID}:role/w'}", "destination.role_arn",
     "only known for a destination with accounts"),
    ("{name: x, role_arn: 'arn:aws:iam::${ACCOUNT_ID}:role/w', accounts: {organizational_units: [ou-1]}}",
     "destination.accounts.organizational_units", "is not an OU id"),
    ("{name: x, role_arn: 'arn:aws:iam::${ACCOUNT_ID}:role/w', "
     "accounts: {organizational_units: [ou-ab12-34cd5678], exclude: ['12345']}}",
     "destination.accounts.exclude", "12-digit account id"),
    ("{name: x, role_arn: 'arn:aws:iam::${ACCOUNT_ID}:role/w', "
     "accounts: {organizational_units: [ou-ab12-34cd5678], include: ['123456789012']}}",
     "destination.accounts.include", "unknown key"),
])
def test_accounts_rules(destination, field, why):
    out = problems(f"version: 1\nmappings: [{{source: prod/a, destination: {destination}}}]\n")
    assert f"field '{field}'" in out and why in out


def test_the_same_accounts_selector_twice_collides_and_different_ones_are_left_to_run_time():
    dest = ("{{name: shared/ca, region: us-west-2, role_arn: 'arn:aws:iam::${{ACCOUNT_ID}}:role/w', "
            "accounts: {{organizational_units: [{ou}]}}}}")
    text = "version: 1\nmappings:\n  - {{id: a, source: prod/a, destination: {a}}}\n" \
           "  - {{id: b, source: prod/b, destination: {b}}}\n"
    same = dest.format(ou="ou-ab12-34cd5678")
    other = dest.format(ou="ou-ab12-99999999")
    assert "writes the same destination as mapping 'a'" in problems(text.format(a=same, b=same))
    load(text.format(a=same, b=other))


# --- speed ----------------------------------------------------------------------------------------


def test_five_thousand_mappings_validate_fast():
    lines = ["version: 1", "variables: {ENV: prod, HOST: 'db.${ENV}.internal'}",
             "defaults: {source: {region: us-east-1}, destination: {region: us-west-2}}", "mappings:"]
    for i in range(5000):
        if i % 10 == 0:
            lines.append(f"  - {{id: p{i}, source: 'app/p{i}/*', destination: 'dr/${{SOURCE_REGION}}/p{i}/*'}}")
        else:
            lines.append(f"  - {{id: m{i}, source: app/s{i}, destination: 'dr/${{ENV}}/s{i}',"
                         " transform: [{json: {'$.host': '${HOST}'}}]}")
    m = parse_manifest("\n".join(lines) + "\n", origin="m.yaml", base_dir=None)
    assert len(m.mappings) == 5000
    # The collision check is sorted + bisect (~0.07 s here; a pairwise one takes minutes). Its
    # bounded work is asserted by counting pairs in tests/test_review_fixes.py, and its time is
    # measured by benchmarks/manifest_load.py: no wall-clock bound here, which a loaded machine
    # could break (seen with two tox runs side by side).
    found: list[str] = []
    check_collisions(list(m.mappings), "m.yaml", found)
    assert found == []


# --- through the command line ---------------------------------------------------------------------


def test_validate_exits_2_naming_file_mapping_and_field(write_manifest, run_cli):
    path = write_manifest("""
        version: 1
        variables: {A: "${B}", B: "${A}"}
        mappings:
          - id: m
            source: {name: prod/a, region: us-east-1}
            destination: prod/a
            transform: [{json: {"$.when": 2024-01-01}}]
    """)
    code, _, err = run_cli("validate", str(path))
    assert code == 2 and "Traceback" not in err
    assert f"{path}:3: field 'variables': variables refer to each other in a cycle: ${{A}} -> ${{B}} -> ${{A}}" in err
    assert f"{path}:8: mapping 'm' (mappings[0]): field 'transform[0].json.$.when': a YAML date" in err
    assert f"{path}:7: mapping 'm' (mappings[0]): field 'destination.name': the mapping writes onto its own" in err
    assert err.count("cycle") == 1


# --- consumers of resolved variables ----------------------------------------------------------------


def test_a_transform_using_a_variable_that_uses_a_builtin_is_built_per_value():
    # HOST uses ${SECRET_NAME}: the engine's transform cache must key on it through HOST
    from reconciler.engine.items import TransformCache

    m = load("""
        version: 1
        variables: {HOST: "${SECRET_NAME}.internal"}
        mappings:
          - {source: "app/*", destination: {name: "dr/*", region: eu-west-1}, transform: [{json: {"$.h": "${HOST}"}}]}
    """).mappings[0]
    d = m.destinations[0]
    cache = TransformCache()
    one = cache.get(m, d, {**dict(d.variables), "SECRET_NAME": "app/one", "REGION": "eu-west-1"})
    two = cache.get(m, d, {**dict(d.variables), "SECRET_NAME": "app/two", "REGION": "eu-west-1"})
    assert one.apply('{"h": ""}') == '{"h": "app/one.internal"}'
    assert two.apply('{"h": ""}') == '{"h": "app/two.internal"}'


def test_iam_names_fill_builtins_used_by_custom_variables():
    from reconciler._iam import _resolve_name

    m = load("""
        version: 1
        variables: {DIR: "dr/${REGION}"}
        mappings: [{source: {name: prod/a, region: us-east-1}, destination: {name: "${DIR}/a", region: eu-west-1}}]
    """).mappings[0]
    assert _resolve_name(m, m.destinations[0]) == "dr/eu-west-1/a"


# --- json_file (SPEC "Transforms": the original replicator's transformation file) -----------------


def test_a_json_file_step_reads_the_seed_transformation_file(write_manifest, run_cli):
    from reconciler.manifest import load_manifest

    seed = '{"transformations": [{"path": "$.host", "find": "prod", "replace": "dr"}]}'
    path = write_manifest("""
        version: 1
        mappings:
          - {id: m, source: prod/a, destination: {name: dr/a, region: eu-west-1},
             transform: [{json_file: rules/t.json}]}
    """, files={"rules/t.json": seed})
    step = load_manifest(str(path)).mappings[0].steps[0]
    assert step.kind == "json_file" and step.assignments == (("$.host", {"find": "prod", "replace": "dr"}),)
    path.with_name("rules").joinpath("t.json").write_text('{"transformations": "nope"}')
    code, _, err = run_cli("validate", str(path))
    assert code == 2 and "Traceback" not in err
    assert "mapping 'm' (mappings[0]): field 'transform[0].json_file'" in err and "non-empty list" in err


def test_a_transform_shared_by_mappings_is_checked_with_each_ones_variables():
    out = problems("""
        version: 1
        mappings:
          - {id: a, source: prod/a, destination: {name: dr/a, region: eu-west-1}, variables: {T: x},
             transform: [{sed: "s/x/${T}/"}]}
          - {id: b, source: prod/b, destination: {name: dr/b, region: eu-west-1}, transform: [{sed: "s/x/${T}/"}]}
    """)
    assert "mapping 'b' (mappings[1]): field 'transform': undefined variable ${T}" in out
    assert "mapping 'a'" not in out


def test_parameter_type_and_tier_defaults_apply_to_parameter_store_destinations_only():
    m = load("""
        version: 1
        defaults: {destination: {region: us-west-2, type: String, tier: Advanced, kms_key_id: alias/k}}
        mappings:
          - {id: a, source: prod/a, destination: dr/a}
          - {id: b, source: prod/b, destination: {name: /dr/b, service: ssm}}
          - {id: c, source: prod/c, destination: {name: /dr/c, service: ssm, type: SecureString}}
    """)
    a, b, c = (x.destinations[0] for x in m.mappings)
    assert (a.parameter_type, a.tier, a.kms_key_id) == (None, None, "alias/k")
    assert (b.parameter_type, b.tier, b.kms_key_id) == ("String", "Advanced", None)
    assert (c.parameter_type, c.kms_key_id) == ("SecureString", "alias/k")
