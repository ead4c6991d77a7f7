"""Validated model -> run-ready specs: defaults merged, identities, names and stores checked.

Each problem is reported through ``problem(field, message)``, which names the file, the YAML line,
the mapping and the field; expansion goes on past a problem so that every one is reported at once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from .._tagledger import ledger_problem
from .._transform import StepSpec
from . import variables as _variables
from .files import RuleBase
from .kinds import DEFAULT_PARAMETER_TYPE, DEFAULT_SERVICE, ParameterTier, ParameterType, Service
from .rules import (
    ACCOUNT_ID_REF,
    ARN_PREFIX,
    KIND,
    NAME_BUILTINS,
    PLACEHOLDERS,
    SSM_MAX_DESCRIPTION,
    Problem,
    name_problem,
)
from .schema import (
    DestinationDefaults,
    DestinationEndpoint,
    EndpointBase,
    ManifestModel,
    MappingModel,
    SourceDefaults,
)
from .scopes import VariableScopes
from .spec import AccountsSelector, DestinationSpec, Identity, MappingSpec, SourceRef
from .steps import TransformChecks, build_steps, step_references
from .yaml import NO_MARKS, Marks, locate, parse_field

_NAME_PLACEHOLDERS = {k: PLACEHOLDERS[k] for k in NAME_BUILTINS}
_SECRET_NAME_BUILTINS = frozenset(PLACEHOLDERS) - frozenset(NAME_BUILTINS)  # SECRET_NAME, DEST_SECRET_NAME
_MEMO_SIZE = 1024  # distinct identities / tag-key sets remembered across endpoints (see _shared_identity)


def expand_mappings(model: ManifestModel, origin: str, base_dir: RuleBase | None, problems: list[str],
                    marks: Marks = NO_MARKS) -> list[MappingSpec]:
    """One ``MappingSpec`` per mapping, in manifest order (``index`` is the position in ``mappings``).

    Problems are appended to ``problems``; a spec is returned for every mapping even when it has
    problems (collisions are then checked over all of them), and the caller refuses the manifest
    when ``problems`` is not empty.
    """
    expansion = _Expansion(model, origin, base_dir, problems, marks)
    return [expansion.mapping(index, m) for index, m in enumerate(model.mappings)]


class _Expansion:
    """The state shared across a manifest's mappings: ids seen, variable scopes, transforms compiled."""

    def __init__(self, model: ManifestModel, origin: str, base_dir: RuleBase | None, problems: list[str],
                 marks: Marks) -> None:
        self._model = model
        self._origin = origin
        self._base_dir = base_dir
        self._problems = problems
        self._marks = marks
        self._seen_ids: dict[str, int] = {}  # mapping id -> the first index that used it
        self._scopes = VariableScopes(model, origin, problems, marks)
        self._checked = TransformChecks()

    def _problem_for(self, index: int, label: str) -> Problem:
        def problem(field_name: str, msg: str) -> None:
            path = ("mappings", index, *parse_field(field_name))  # the YAML line of the field, when known
            self._problems.append(f"{locate(self._origin, self._marks, path, label=label)}: {msg}")

        return problem

    def mapping(self, index: int, m: MappingModel) -> MappingSpec:
        mapping_id = m.id or m.source.name  # invariant: a spec's id is never empty
        problem = self._problem_for(index, mapping_id)
        self._check_id_and_variables(index, mapping_id, m, problem)
        source = _source(m, self._model.defaults.source, problem)
        steps = build_steps(m, self._base_dir, problem)
        dests = self._destinations(m, source, steps, problem)
        return MappingSpec(
            id=mapping_id, index=index, source=source, destinations=tuple(dests), steps=steps,
            on_existing=m.on_existing or self._model.settings.on_existing, on_source_deleted=m.on_source_deleted,
        )

    def _check_id_and_variables(self, index: int, mapping_id: str, m: MappingModel, problem: Problem) -> None:
        if mapping_id in self._seen_ids:
            problem("id", f"duplicate id '{mapping_id}' (also mappings[{self._seen_ids[mapping_id]}]); give each an id")
        self._seen_ids.setdefault(mapping_id, index)
        for name in m.variables:
            if name in _variables.BUILTINS:
                problem("variables", f"{name} is a built-in variable and cannot be redefined")

    def _destinations(self, m: MappingModel, source: SourceRef, steps: tuple[StepSpec, ...],
                      problem: Problem) -> list[DestinationSpec]:
        """Each destination with the variables its name and the steps use, resolved in its own scope;
        then the steps are compiled once per distinct variable set (only where variables resolved:
        otherwise the reason is already reported)."""
        step_refs = step_references(steps)
        dests_in = m.destinations if m.destinations is not None else [m.destination]
        dests: list[DestinationSpec] = []
        checkable: list[tuple[DestinationSpec, DestinationEndpoint]] = []  # those whose variables resolved
        for d_index, d in enumerate(dests_in):
            assert d is not None  # the schema: exactly one of destination, destinations
            fname = f"destinations[{d_index}]" if m.destinations is not None else "destination"
            used = step_refs | set(_variables.references(d.name))
            variables = self._scopes.resolve(m, d, fname, used, problem)
            dest = _destination(d, fname, self._model.defaults.destination, source, variables, problem,
                                functools.partial(self._scopes.defined, m, d))
            dests.append(dest)
            if variables is not None:
                checkable.append((dest, d))
        self._check_transform(m, steps, checkable, problem)
        return dests

    def _check_transform(self, m: MappingModel, steps: tuple[StepSpec, ...],
                         dests: list[tuple[DestinationSpec, DestinationEndpoint]], problem: Problem) -> None:
        """The steps compiled with each destination's variables; the first failure is reported (once
        per mapping: the same steps fail the same way for the other destinations)."""
        for dest, d in dests:
            error = self._checked.check(steps, dest.variables)
            if isinstance(error, _variables.UndefinedVariable):  # name every variable the user could have meant
                problem("transform", str(error.with_defined([*self._scopes.defined(m, d), *PLACEHOLDERS])))
                return
            if error is not None:  # too-long variables, bad regex or JSONPath
                problem("transform", str(error))
                return


def _source(m: MappingModel, src_d: SourceDefaults, problem: Problem) -> SourceRef:
    service: Service = m.source.service or src_d.service or DEFAULT_SERVICE
    identity = _identity(m.source, src_d)
    if identity.per_account:
        problem("source.role_arn", f"{ACCOUNT_ID_REF} is only known for a destination with accounts")
    name = m.source.name
    prefix = name.endswith("*")
    region = m.source.region or src_d.region
    if name.startswith(ARN_PREFIX):
        parts = name.split(":")
        if service != "secretsmanager":
            problem("source.name", "a Parameter Store source is given by its name, not an ARN")
        elif "*" in name or len(parts) < 7 or parts[2] != "secretsmanager":
            problem("source.name", "an ARN source must be a full Secrets Manager secret ARN, without '*'")
        elif m.source.region and m.source.region != parts[3]:
            problem("source.region", f"{m.source.region} differs from the ARN's region {parts[3]}")
        else:
            region = parts[3]  # the ARN's region wins over defaults.source.region
        return SourceRef(name, region, identity, False, service)
    stem = name.removesuffix("*")
    if "*" in stem:
        problem("source.name", "'*' may only be the last character")
    else:
        why = name_problem(service, stem, prefix, destination=False)
        if why:
            problem("source.name", f"a {KIND[service]} name {why}")
    return SourceRef(stem, region, identity, prefix, service)


def _destination(d: DestinationEndpoint, fname: str, dd: DestinationDefaults, source: SourceRef,
                 variables: tuple[tuple[str, str], ...] | None, problem: Problem,
                 defined: Callable[[], list[str]]) -> DestinationSpec:
    """The run-ready destination; ``variables`` None: they could not be resolved (already reported)."""
    service: Service = d.service or dd.service or DEFAULT_SERVICE
    identity = _identity(d, dd)
    accounts = AccountsSelector(tuple(d.accounts.organizational_units), tuple(d.accounts.exclude)) \
        if d.accounts else None
    if identity.per_account and accounts is None:
        problem(f"{fname}.role_arn", f"{ACCOUNT_ID_REF} is only known for a destination with accounts")
    if accounts is not None and not identity.per_account:
        problem(f"{fname}.accounts", f"needs a role_arn naming {ACCOUNT_ID_REF} (the role to assume in each account)")
    ptype, tier, kms = _store_options(service, d, dd, fname, problem)
    description = d.description if d.description is not None else dd.description
    if service == "ssm" and description is not None and len(description) > SSM_MAX_DESCRIPTION:
        problem(f"{fname}.description", f"a parameter's description has at most {SSM_MAX_DESCRIPTION} characters")
    dest = DestinationSpec(
        name=d.name, region=d.region or dd.region, identity=identity, kms_key_id=kms,
        tags=_merged_tags(dd.tags, d.tags), description=description, variables=variables or (),
        service=service, parameter_type=ptype, tier=tier, accounts=accounts,
    )
    if (ledger_why := _ledger_problem(tuple(k for k, _ in dest.tags))) is not None:
        problem(f"{fname}.tags", ledger_why)
    if d.name.startswith(ARN_PREFIX):
        problem(f"{fname}.name", "a destination is a name, not an ARN")
    star = d.name.find("*")
    if star >= 0 and star != len(d.name) - 1:
        problem(f"{fname}.name", "'*' may only be the last character")
    if (star >= 0) != source.prefix:
        side = "destination" if star >= 0 else "source"
        problem(f"{fname}.name", f"'*' appears on one side only (the {side}); use it on both or neither")
    if variables is None:
        return dest
    try:  # a name without "$" is its own expansion: no values to build (load speed)
        expanded = _variables.expand(d.name, {**dict(variables), **_NAME_PLACEHOLDERS}) if "$" in d.name else d.name
    except _variables.UndefinedVariable as exc:
        problem(f"{fname}.name", _undefined_in_name(exc, d.name, dict(variables), defined))
        return dest
    except _variables.VariableError as exc:
        problem(f"{fname}.name", str(exc))
        return dest
    stem = expanded.removesuffix("*")
    if "*" not in stem:
        why = name_problem(service, stem, expanded.endswith("*"), destination=True)
        if why:
            kind = KIND[service]
            problem(f"{fname}.name", f"{stem!r} is not a {kind} name: a {kind} name {why} (after variables)")
    return dest


def _undefined_in_name(exc: _variables.UndefinedVariable, name: str, values: dict[str, str],
                       defined: Callable[[], list[str]]) -> str:
    """Why a destination name's variable is undefined: a name unknown everywhere, or a secret-name
    built-in (the destination's name cannot be made of the names it is used to compute)."""
    if exc.name not in _SECRET_NAME_BUILTINS:
        return str(exc.with_defined([*defined(), *NAME_BUILTINS]))
    via = next((ref for ref in _variables.references(name)
                if ref in values and exc.name in _variables.references(values[ref])), None)
    what = f"${{{via}}} uses ${{{exc.name}}}, which is" if via else f"${{{exc.name}}} is"
    return (f"{what} not allowed in a destination name (only {', '.join(f'${{{b}}}' for b in NAME_BUILTINS)} "
            "and custom variables are: the secret names are known only once the name is)")


def _store_options(service: Service, d: DestinationEndpoint, dd: DestinationDefaults, fname: str,
                   problem: Problem) -> tuple[ParameterType | None, ParameterTier | None, str | None]:
    """(parameter type, tier, KMS key) of a destination; type and tier are Parameter Store's only.

    ``type``/``tier`` in ``defaults.destination`` apply to the ssm destinations and are ignored by
    the others (a manifest may mix both); on a secretsmanager destination itself they are an error.
    """
    kms = d.kms_key_id or dd.kms_key_id
    if service == "secretsmanager":
        for key in ("type", "tier"):
            if getattr(d, key) is not None:
                problem(f"{fname}.{key}", "only a Parameter Store destination (service: ssm) has a type and a tier")
        return None, None, kms
    ptype = d.type or dd.type or DEFAULT_PARAMETER_TYPE
    if ptype != "SecureString":
        if d.kms_key_id:
            problem(f"{fname}.kms_key_id", f"only a SecureString parameter is encrypted with a KMS key ({ptype})")
        kms = None  # a default key applies to the SecureString destinations only
    return ptype, d.tier or dd.tier, kms


def _identity(ep: EndpointBase, defaults: EndpointBase) -> Identity:
    if ep.role_arn or ep.profile:
        return _shared_identity(ep.role_arn, ep.external_id, ep.profile)
    return _shared_identity(defaults.role_arn, defaults.external_id, defaults.profile)


def _merged_tags(defaults: dict[str, str], own: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """``defaults.destination.tags`` < the destination's own, as sorted pairs."""
    if not own:  # most destinations: the defaults' tags, sorted once (models are frozen)
        return _sorted_tags(tuple(defaults.items()))
    return tuple(sorted({**defaults, **own}.items()))


@functools.lru_cache(maxsize=_MEMO_SIZE)
def _sorted_tags(pairs: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(pairs))


# Load speed: a manifest names few distinct identities and tag sets across thousands of endpoints.
# Both functions are pure (an Identity is frozen, so equal ones may be one object); the caches are
# bounded so a long-lived Lambda loading many manifests keeps a fixed footprint.
@functools.lru_cache(maxsize=_MEMO_SIZE)
def _shared_identity(role_arn: str | None, external_id: str | None, profile: str | None) -> Identity:
    return Identity(role_arn, external_id, profile)


@functools.lru_cache(maxsize=_MEMO_SIZE)
def _ledger_problem(keys: tuple[str, ...]) -> str | None:
    """The reconciler's tag ledger must fit the destination's tag keys (SPEC "Lifecycle")."""
    return ledger_problem(keys)

