"""A small IAM identity-policy evaluator, limited to what the project's policies use.

No maintained Python library evaluates IAM conditions locally (the AWS policy simulator is an API
call; moto does not evaluate conditions), so this models AWS's documented logic for the subset:

- an explicit Deny anywhere wins; else any matching Allow allows; else the implicit deny;
- a statement matches when an action pattern, a resource pattern and every condition match
  (operators AND; keys within an operator AND; values within a key OR);
- ``*`` and ``?`` wildcards in actions (case-insensitive) and resources (case-sensitive);
- condition keys are case-insensitive; operators: StringEquals, StringNotEquals, StringLike,
  StringNotLike, ArnLike, ArnEquals, Null, Bool, and the ForAllValues:/ForAnyValue: forms of
  StringEquals and StringLike;
- a key missing from the request: the positive operators fail, the negated ones (StringNotEquals,
  StringNotLike) match, ``Null: true`` matches, ForAllValues matches, ForAnyValue fails.

An operator outside this set raises, so a policy cannot silently go unevaluated.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

Decision = Literal["Allow", "Deny", "ImplicitDeny"]
ContextValue = str | list[str]

_NEGATED = {"StringNotEquals", "StringNotLike"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _glob(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    # IAM wildcards: * any run, ? one character; nothing else is special.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL) is not None


def _single(op: str, wanted: list[str], actual: str) -> bool:
    if op in ("StringEquals", "ArnEquals"):
        return actual in wanted
    if op in ("StringLike", "ArnLike"):
        return any(_glob(w, actual) for w in wanted)
    if op == "Bool":
        return actual.lower() in [w.lower() for w in wanted]
    raise ValueError(f"operator {op} is not modelled")


def _condition(op: str, key: str, wanted_raw: Any, context: Mapping[str, ContextValue]) -> bool:
    wanted = [str(w) for w in _as_list(wanted_raw)]
    lowered = {k.lower(): v for k, v in context.items()}
    present = key.lower() in lowered
    actual = lowered.get(key.lower())
    if op == "Null":
        return (wanted[0].lower() == "true") == (not present)
    if ":" in op:
        qualifier, base = op.split(":", 1)
        if base not in ("StringEquals", "StringLike", *_NEGATED):
            raise ValueError(f"operator {op} is not modelled")
        values = [] if actual is None else _as_list(actual)

        def one(v: str) -> bool:  # a negated operator holds for a value that matches none of ``wanted``
            if base in _NEGATED:
                return not _single("StringEquals" if base == "StringNotEquals" else "StringLike", wanted, v)
            return _single(base, wanted, v)

        if qualifier == "ForAllValues":
            return all(one(v) for v in values)
        if qualifier == "ForAnyValue":
            return any(one(v) for v in values)
        raise ValueError(f"qualifier {qualifier} is not modelled")
    if op in _NEGATED:
        if not present:
            return True
        positive = "StringEquals" if op == "StringNotEquals" else "StringLike"
        return not any(_single(positive, wanted, v) for v in _as_list(actual))
    if not present:
        return False
    return any(_single(op, wanted, v) for v in _as_list(actual))


def statement_matches(st: Mapping[str, Any], action: str, resource: str,
                      context: Mapping[str, ContextValue]) -> bool:
    if not any(_glob(a, action, ignore_case=True) for a in _as_list(st["Action"])):
        return False
    if not any(_glob(r, resource) for r in _as_list(st["Resource"])):
        return False
    for op, block in st.get("Condition", {}).items():
        for key, wanted in block.items():
            if not _condition(op, key, wanted, context):
                return False
    return True


def evaluate(policies: Iterable[Mapping[str, Any]], action: str, resource: str,
             context: Mapping[str, ContextValue] | None = None) -> Decision:
    """The decision of these identity policies together for one request."""
    context = context or {}
    allowed = False
    for doc in policies:
        for st in _as_list(doc["Statement"]):
            if st.get("NotAction") or st.get("NotResource") or st.get("Principal"):
                raise ValueError(f"statement shape not modelled: {st}")
            if statement_matches(st, action, resource, context):
                if st["Effect"] == "Deny":
                    return "Deny"
                allowed = True
    return "Allow" if allowed else "ImplicitDeny"


def tag_context(*, resource_tags: Mapping[str, str] | None = None, request_tags: Mapping[str, str] | None = None,
                tag_keys: Iterable[str] | None = None, service: str = "secretsmanager",
                extra: Mapping[str, ContextValue] | None = None) -> dict[str, ContextValue]:
    """The request context AWS builds for a tagging-related call on one resource."""
    ctx: dict[str, ContextValue] = {}
    prefix = "secretsmanager:ResourceTag/" if service == "secretsmanager" else "aws:ResourceTag/"
    for k, v in (resource_tags or {}).items():
        ctx[prefix + k] = v
        ctx["aws:ResourceTag/" + k] = v
    for k, v in (request_tags or {}).items():
        ctx["aws:RequestTag/" + k] = v
    keys = list(tag_keys) if tag_keys is not None else list(request_tags or {})
    if keys:
        ctx["aws:TagKeys"] = keys
    ctx.update(extra or {})
    return ctx


__all__ = ["Decision", "evaluate", "statement_matches", "tag_context"]
