"""Render the policy documents of the deployment templates with concrete parameter values.

Just enough CloudFormation to read our own templates: !Ref, !Sub (both forms), !GetAtt, !If,
!Equals, !Not, !And, !Or, !Join, !Split, !Select and pseudo parameters. Resources referenced by
!Ref / !GetAtt become recognisable fake ARNs and names, so a rendered policy can be linted by
parliament and evaluated by ``policy_eval``. Unknown intrinsics raise.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parent.parent / "config" / "deploy"
ACCOUNT = "111111111111"
REGION = "us-east-1"
STACK = "secrets-reconciler"


class _Tag:
    def __init__(self, name: str, value: Any) -> None:
        self.name, self.value = name, value


class _Loader(yaml.SafeLoader):
    pass


def _construct(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> _Tag:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return _Tag(suffix, value)


_Loader.add_multi_constructor("!", _construct)


def load(name: str) -> dict[str, Any]:
    return yaml.load((DEPLOY / name).read_text(), Loader=_Loader)


class Renderer:
    def __init__(self, template: Mapping[str, Any], params: Mapping[str, Any]) -> None:
        self.t = template
        self.params: dict[str, Any] = {}
        for name, spec in template.get("Parameters", {}).items():
            value = params.get(name, spec.get("Default"))
            if value is None:
                raise KeyError(f"parameter {name} needs a value")
            if spec["Type"] == "CommaDelimitedList" and isinstance(value, str):
                value = value.split(",")
            self.params[name] = value
        self.params.update({"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": "aws",
                            "AWS::StackName": STACK, "AWS::URLSuffix": "amazonaws.com"})
        self._raw_conditions = template.get("Conditions", {})
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        # Conditions may name other conditions: resolved on first use, in any order.
        if name not in self._conditions:
            self._conditions[name] = bool(self.render(self._raw_conditions[name]))
        return self._conditions[name]

    def ref(self, name: str) -> Any:
        if name in self.params:
            return self.params[name]
        if name == "AWS::NoValue":
            return _NO_VALUE
        res = self.t["Resources"][name]
        kind = res["Type"]
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
        if kind in ("AWS::SNS::Topic", "AWS::StepFunctions::StateMachine"):
            return self.getatt(name, "Arn")
        return f"{STACK}-{name.lower()}"

    def getatt(self, name: str, attr: str) -> str:
        kind = self.t["Resources"][name]["Type"].split("::")[1].lower()
        if attr in ("QueueName", "Name"):
            return f"{STACK}-{name}"
        if kind == "s3":
            return f"arn:aws:s3:::{STACK}-{name.lower()}"
        if kind == "iam":
            return f"arn:aws:iam::{ACCOUNT}:role/{STACK}-{name}"
        if kind == "lambda":
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{STACK}-{name}"
        if kind == "events":
            return f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{STACK}-{name}"
        if kind == "stepfunctions":
            return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STACK}-{name}"
        if kind == "scheduler":
            return f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/{STACK}-{name}"
        return f"arn:aws:{kind}:{REGION}:{ACCOUNT}:{STACK}-{name}"

    def sub(self, text: str, extra: Mapping[str, Any]) -> str:
        def one(m: re.Match[str]) -> str:
            expr = m.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in extra:
                return str(extra[expr])
            if "." in expr and expr.split(".")[0] in self.t.get("Resources", {}):
                res, attr = expr.split(".", 1)
                return self.getatt(res, attr)
            value = self.ref(expr)
            return ",".join(value) if isinstance(value, list) else str(value)

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def render(self, node: Any) -> Any:
        if isinstance(node, _Tag):
            n, v = node.name, node.value
            if n == "Ref":
                return self.ref(v)
            if n == "Sub":
                if isinstance(v, list):
                    return self.sub(v[0], {k: self.render(x) for k, x in v[1].items()})
                return self.sub(v, {})
            if n == "GetAtt":
                res, attr = v.split(".", 1) if isinstance(v, str) else v
                return self.getatt(res, attr)
            if n == "If":
                branch = v[1] if self.condition(v[0]) else v[2]
                return self.render(branch)
            if n == "Equals":
                a, b = (self.render(x) for x in v)
                return a == b
            if n == "Not":
                return not self.render(v[0])
            if n == "And":
                return all(self.render(x) for x in v)
            if n == "Or":
                return any(self.render(x) for x in v)
            if n == "Join":
                return v[0].join(str(x) for x in self.render(v[1]))
            if n == "Split":
                return str(self.render(v[1])).split(v[0])
            if n == "Select":
                return self.render(v[1])[int(self.render(v[0]))]
            if n == "Condition":
                return self.condition(v)
            raise ValueError(f"intrinsic !{n} is not modelled")
        if isinstance(node, dict):
            if len(node) == 1 and (next(iter(node)).startswith("Fn::") or "Ref" in node):
                key = next(iter(node))
                return self.render(_Tag(key.removeprefix("Fn::"), node[key]))
            out = {k: self.render(v) for k, v in node.items()}
            return {k: v for k, v in out.items() if v is not _NO_VALUE}
        if isinstance(node, list):
            return [x for x in (self.render(v) for v in node) if x is not _NO_VALUE]
        return node


_NO_VALUE = object()


def policies(name: str, params: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(resource, kind, policy document) for every policy in a template: identity policies of
    roles (inline and AWS::IAM::Policy/ManagedPolicy), trust policies and resource policies."""
    t = load(name)
    r = Renderer(t, params)
    for logical, res in t["Resources"].items():
        if "Condition" in res and not r.condition(res["Condition"]):
            continue
        props = r.render(res.get("Properties", {}))
        kind = res["Type"]
        if kind == "AWS::IAM::Role":
            yield logical, "trust", props["AssumeRolePolicyDocument"]
            for p in props.get("Policies", []):
                yield f"{logical}/{p['PolicyName']}", "identity", p["PolicyDocument"]
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            yield logical, "identity", props["PolicyDocument"]
        elif kind in ("AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
            yield logical, "resource", props["PolicyDocument"]
        elif kind == "AWS::KMS::Key":
            yield logical, "resource", props["KeyPolicy"]


def role_policies(name: str, params: Mapping[str, Any], role: str) -> list[dict[str, Any]]:
    return [doc for res, kind, doc in policies(name, params) if kind == "identity" and res.startswith(role + "/")]
