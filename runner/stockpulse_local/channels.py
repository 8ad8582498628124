"""Who receives a message: the template's own SNS subscription filter policies, evaluated.

The report's `messages[].channels` (docs/formats.md) are the channels the deployed stack would
deliver a notice to with the template's default parameters and every endpoint configured
(e-mail address, on-call phone, IM robots): the filter policies are read from template.yaml, not
restated here, so changing a policy changes what the report counts. `supply_chain` is the
publisher's own rule (`to_supply_chain`): that topic's subscribers are the shop's systems.

Only the filter-policy grammar the template uses is evaluated: `$or`, and exact string matches
on String and String.Array attributes (an array matches when any element does). Anything else
raises, so a template change beyond it cannot be silently misread.

A deployed stack (`stockpulse session status --stack NAME --review`) is routed with its own
parameter values instead (`Routing.from_template(values=...)`): its tiers, and only the
subscriptions its conditions created (no `AlertEmail`: no e-mail). Conditions are evaluated in the
grammar the template uses (`Fn::Not`, `Fn::Equals`, `Ref` to a parameter); anything else raises.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockpulse.domain.alerts import AlertNotice, routing_attributes, to_supply_chain
from stockpulse_local.template_tables import load_template

FEED = "feed"
ORDER = ("feed", "im", "sms", "email", "supply_chain")


class PolicyError(ValueError):
    """The template uses filter-policy syntax this evaluator does not know."""


def resolve_defaults(
    node: Any, parameters: Mapping[str, Any], values: Mapping[str, str] | None = None
) -> Any:
    """Replace every `Ref` to a template parameter by its default, or by its value in `values`
    when it has one there (CommaDelimitedList -> list)."""
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in parameters:
            param = parameters[node["Ref"]]
            default = (values or {}).get(node["Ref"], param.get("Default", ""))
            if param["Type"] == "CommaDelimitedList":
                return [v.strip() for v in str(default).split(",")]
            return default
        return {k: resolve_defaults(v, parameters, values) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve_defaults(v, parameters, values) for v in node]
    return node


def condition_holds(node: Any, conditions: Mapping[str, Any]) -> bool:
    """A template condition whose `Ref`s are resolved already (`resolve_defaults`)."""
    if isinstance(node, dict) and len(node) == 1:
        ((fn, args),) = node.items()
        if fn == "Fn::Not" and isinstance(args, list) and len(args) == 1:
            return not condition_holds(args[0], conditions)
        if fn == "Fn::Equals" and isinstance(args, list) and len(args) == 2:
            return bool(args[0] == args[1])
        if fn == "Condition" and args in conditions:
            return condition_holds(conditions[args], conditions)
    raise PolicyError(f"condition {node!r}: only Fn::Not, Fn::Equals and Ref to parameters are read")


def matches(policy: Mapping[str, Any] | None, attributes: Mapping[str, str | Sequence[str]]) -> bool:
    """SNS filter-policy matching on message attributes (the subset the template uses)."""
    if policy is None:
        return True
    for key, allowed in policy.items():
        if key == "$or":
            if not any(matches(branch, attributes) for branch in allowed):
                return False
            continue
        if not isinstance(allowed, list) or not all(isinstance(v, str) for v in allowed):
            raise PolicyError(f"filter on {key!r}: only lists of exact strings are read, got {allowed!r}")
        value = attributes.get(key)
        if value is None:
            return False
        values = [value] if isinstance(value, str) else list(value)
        if not set(values) & set(allowed):
            return False
    return True


@dataclass(frozen=True)
class Routing:
    """Channel -> filter policy (None: no filter) of the subscriptions on the alerts topic."""

    policies: Mapping[str, Mapping[str, Any] | None]

    @classmethod
    def from_template(
        cls, path: Path | str | None = None, *, values: Mapping[str, str] | None = None
    ) -> Routing:
        """The template's routing: with its parameters' defaults and every endpoint configured
        (`values` None), or as a stack deployed with the parameter `values` created it."""
        template = load_template(path)
        resources, parameters = template["Resources"], template.get("Parameters", {})
        conditions = resolve_defaults(template.get("Conditions", {}), parameters, values)
        policies: dict[str, Mapping[str, Any] | None] = {}
        by_protocol = {"sqs": "feed", "email": "email", "sms": "sms"}
        topic = {"Ref": "AlertsTopic"}

        def deployed(resource: Mapping[str, Any]) -> bool:
            """Whether the stack has this resource (only routing resources' conditions are read)."""
            if values is None or "Condition" not in resource:
                return True
            return condition_holds({"Condition": resource["Condition"]}, conditions)

        for resource in resources.values():
            kind, props = resource.get("Type"), resource.get("Properties", {})
            if kind == "AWS::SNS::Subscription" and props.get("TopicArn") == topic and deployed(resource):
                channel = by_protocol[props["Protocol"]]
                policies[channel] = resolve_defaults(props.get("FilterPolicy"), parameters, values)
            if kind == "AWS::Serverless::Function" and deployed(resource):  # the IM router, by SAM
                for event in props.get("Events", {}).values():
                    source = event.get("Properties", {})
                    if event.get("Type") == "SNS" and source.get("Topic") == topic:
                        policies["im"] = resolve_defaults(source.get("FilterPolicy"), parameters, values)
        return cls(policies)

    def channels(self, notice: AlertNotice) -> list[str]:
        attributes = routing_attributes(notice)
        reached = {channel for channel, policy in self.policies.items() if matches(policy, attributes)}
        if to_supply_chain(notice):
            reached.add("supply_chain")
        return [c for c in ORDER if c in reached]
