"""DynamoDB tables built from ``template.yaml``: the schema has one source of truth.

The deployed stack, the embedded (moto) backend, DynamoDB Local and the tests all get their
tables from the ``AWS::DynamoDB::Table`` resources of the SAM template. This module reads the
template (CloudFormation short-form tags such as ``!Ref`` / ``!GetAtt`` / ``!Sub`` included),
turns each table's properties into ``create_table`` keyword arguments, and creates them.

Only literal values are understood inside a table's schema properties: an intrinsic function
there (a ``!Ref`` to a parameter, say) raises :class:`TemplateError` rather than guessing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml  # type: ignore[import-untyped, unused-ignore]

__all__ = [
    "TEMPLATE_ENV",
    "DynamoDBClient",
    "TableSpec",
    "TemplateError",
    "create_tables",
    "find_template",
    "load_template",
    "physical_table_name",
    "table_specs",
]

#: Environment variable naming the template to read (overrides the search).
TEMPLATE_ENV = "STOCKPULSE_TEMPLATE"
TEMPLATE_FILENAME = "template.yaml"

_TABLE_TYPE = "AWS::DynamoDB::Table"


class TemplateError(ValueError):
    """The template is missing, unreadable, or has a table this module cannot build."""


class DynamoDBClient(Protocol):
    """The part of a boto3 DynamoDB client this module uses (any boto3 client satisfies it)."""

    def create_table(self, *args: Any, **kwargs: Any) -> Any: ...

    def describe_table(self, *args: Any, **kwargs: Any) -> Any: ...

    def update_time_to_live(self, *args: Any, **kwargs: Any) -> Any: ...

    def describe_time_to_live(self, *args: Any, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class TableSpec:
    """One ``AWS::DynamoDB::Table`` of the template.

    ``create_kwargs`` are the ``create_table`` keyword arguments without ``TableName``
    (KeySchema, AttributeDefinitions, BillingMode, and where present GlobalSecondaryIndexes,
    LocalSecondaryIndexes, StreamSpecification, ProvisionedThroughput).
    ``ttl_attribute`` is the TimeToLiveSpecification attribute when TTL is enabled.
    """

    logical_id: str
    create_kwargs: dict[str, Any]
    ttl_attribute: str | None


# ---------------------------------------------------------------------------- template loading


class _CfnLoader(yaml.SafeLoader):  # type: ignore[misc, unused-ignore]
    """SafeLoader that keeps CloudFormation short-form tags as their long-form dicts."""


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_intrinsic)


def find_template(start: Path | None = None) -> Path:
    """Locate ``template.yaml``.

    Order: ``$STOCKPULSE_TEMPLATE``; then ``start`` (default: the working directory) and its
    parents; then the folders above this module (the repository in an editable install).
    """
    override = os.environ.get(TEMPLATE_ENV)
    if override:
        path = Path(override)
        if not path.is_file():
            raise TemplateError(f"{TEMPLATE_ENV}={override!r} is not a file")
        return path
    here = (start or Path.cwd()).resolve()
    candidates = [here, *here.parents, *Path(__file__).resolve().parents]
    for folder in candidates:
        path = folder / TEMPLATE_FILENAME
        if path.is_file():
            return path
    raise TemplateError(
        f"no {TEMPLATE_FILENAME} found from {here} upwards nor above {__file__}; set {TEMPLATE_ENV}"
    )


def load_template(path: Path | str | None = None) -> dict[str, Any]:
    """Parse the SAM/CloudFormation template; short-form tags become long-form dicts."""
    template_path = Path(path) if path is not None else find_template()
    try:
        text = template_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"cannot read {template_path}: {exc}") from exc
    try:
        data = yaml.load(text, Loader=_CfnLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        raise TemplateError(f"{template_path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise TemplateError(f"{template_path} has no Resources mapping")
    return data


# ---------------------------------------------------------------------------- table specs


def _is_intrinsic(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _INTRINSIC_KEYS


_INTRINSIC_KEYS = frozenset(
    {
        "Ref",
        "Condition",
        "Fn::GetAtt",
        "Fn::Sub",
        "Fn::If",
        "Fn::Join",
        "Fn::Select",
        "Fn::Split",
        "Fn::FindInMap",
        "Fn::ImportValue",
        "Fn::GetAZs",
        "Fn::Base64",
        "Fn::Cidr",
        "Fn::Equals",
        "Fn::Not",
        "Fn::And",
        "Fn::Or",
        "Fn::Length",
        "Fn::ToJsonString",
        "Fn::Transform",
    }
)


def _literal(value: Any, where: str) -> Any:
    """Return ``value`` if it holds no intrinsic function anywhere; raise otherwise."""
    if _is_intrinsic(value):
        raise TemplateError(f"{where}: intrinsic function {next(iter(value))} cannot be resolved locally")
    if isinstance(value, dict):
        return {k: _literal(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_literal(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _key_schema(raw: Any, where: str) -> list[dict[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise TemplateError(f"{where}: KeySchema must be a non-empty list")
    return [{"AttributeName": str(k["AttributeName"]), "KeyType": str(k["KeyType"])} for k in raw]


def _projection(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict) or "ProjectionType" not in raw:
        raise TemplateError(f"{where}: Projection.ProjectionType is required")
    out: dict[str, Any] = {"ProjectionType": str(raw["ProjectionType"])}
    if raw.get("NonKeyAttributes"):
        out["NonKeyAttributes"] = [str(a) for a in raw["NonKeyAttributes"]]
    return out


def _throughput(raw: Any, where: str) -> dict[str, int]:
    if not isinstance(raw, dict):
        raise TemplateError(f"{where}: ProvisionedThroughput is required for PROVISIONED billing")
    return {
        "ReadCapacityUnits": int(raw["ReadCapacityUnits"]),
        "WriteCapacityUnits": int(raw["WriteCapacityUnits"]),
    }


def _index(raw: Mapping[str, Any], where: str, *, provisioned: bool, gsi: bool) -> dict[str, Any]:
    name = raw.get("IndexName")
    if not isinstance(name, str) or not name:
        raise TemplateError(f"{where}: IndexName is required")
    where = f"{where}[{name}]"
    out: dict[str, Any] = {
        "IndexName": name,
        "KeySchema": _key_schema(raw.get("KeySchema"), where),
        "Projection": _projection(raw.get("Projection"), where),
    }
    if gsi and provisioned:
        out["ProvisionedThroughput"] = _throughput(raw.get("ProvisionedThroughput"), where)
    return out


def _table_spec(logical_id: str, resource: Mapping[str, Any]) -> TableSpec:
    where = f"Resources.{logical_id}.Properties"
    props = resource.get("Properties")
    if not isinstance(props, dict):
        raise TemplateError(f"{where} missing")
    billing = str(_literal(props.get("BillingMode", "PROVISIONED"), f"{where}.BillingMode"))
    provisioned = billing == "PROVISIONED"
    kwargs: dict[str, Any] = {
        "KeySchema": _key_schema(
            _literal(props.get("KeySchema"), f"{where}.KeySchema"), f"{where}.KeySchema"
        ),
        "AttributeDefinitions": [
            {"AttributeName": str(a["AttributeName"]), "AttributeType": str(a["AttributeType"])}
            for a in _literal(props.get("AttributeDefinitions", []), f"{where}.AttributeDefinitions")
        ],
        "BillingMode": billing,
    }
    if provisioned:
        kwargs["ProvisionedThroughput"] = _throughput(
            _literal(props.get("ProvisionedThroughput"), where), f"{where}.ProvisionedThroughput"
        )
    gsis = _literal(props.get("GlobalSecondaryIndexes") or [], f"{where}.GlobalSecondaryIndexes")
    if gsis:
        kwargs["GlobalSecondaryIndexes"] = [
            _index(g, f"{where}.GlobalSecondaryIndexes", provisioned=provisioned, gsi=True) for g in gsis
        ]
    lsis = _literal(props.get("LocalSecondaryIndexes") or [], f"{where}.LocalSecondaryIndexes")
    if lsis:
        kwargs["LocalSecondaryIndexes"] = [
            _index(x, f"{where}.LocalSecondaryIndexes", provisioned=provisioned, gsi=False) for x in lsis
        ]
    stream = _literal(props.get("StreamSpecification"), f"{where}.StreamSpecification")
    if isinstance(stream, dict) and stream.get("StreamViewType"):
        kwargs["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": str(stream["StreamViewType"]),
        }

    defined = {a["AttributeName"] for a in kwargs["AttributeDefinitions"]}
    used = {k["AttributeName"] for k in kwargs["KeySchema"]}
    for idx in [*kwargs.get("GlobalSecondaryIndexes", []), *kwargs.get("LocalSecondaryIndexes", [])]:
        used |= {k["AttributeName"] for k in idx["KeySchema"]}
    if defined != used:
        raise TemplateError(
            f"{where}: AttributeDefinitions {sorted(defined)} must name exactly"
            f" the key attributes {sorted(used)}"
        )

    ttl_attribute: str | None = None
    ttl = _literal(props.get("TimeToLiveSpecification"), f"{where}.TimeToLiveSpecification")
    if isinstance(ttl, dict) and ttl.get("Enabled") is True and ttl.get("AttributeName"):
        ttl_attribute = str(ttl["AttributeName"])
    return TableSpec(logical_id=logical_id, create_kwargs=kwargs, ttl_attribute=ttl_attribute)


def table_specs(template: Mapping[str, Any] | Path | str | None = None) -> dict[str, TableSpec]:
    """Every ``AWS::DynamoDB::Table`` of the template, by logical id (template order)."""
    data = template if isinstance(template, Mapping) else load_template(template)
    resources = data.get("Resources")
    if not isinstance(resources, Mapping):
        raise TemplateError("template has no Resources mapping")
    specs: dict[str, TableSpec] = {}
    for logical_id, resource in resources.items():
        if isinstance(resource, Mapping) and resource.get("Type") == _TABLE_TYPE:
            try:
                specs[str(logical_id)] = _table_spec(str(logical_id), resource)
            except (KeyError, TypeError, ValueError) as exc:
                if isinstance(exc, TemplateError):
                    raise
                raise TemplateError(f"Resources.{logical_id}: malformed table properties ({exc!r})") from exc
    if not specs:
        raise TemplateError(f"template declares no {_TABLE_TYPE}")
    return specs


# ---------------------------------------------------------------------------- creating tables


def physical_table_name(name_prefix: str, logical_id: str) -> str:
    """The table name used outside CloudFormation: ``name_prefix + logical_id``."""
    name = f"{name_prefix}{logical_id}"
    if not 3 <= len(name) <= 255 or any(not (c.isascii() and (c.isalnum() or c in "_.-")) for c in name):
        raise TemplateError(f"invalid DynamoDB table name {name!r} (3-255 chars of [A-Za-z0-9_.-])")
    return name


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error")
        if isinstance(error, dict):
            code = error.get("Code")
            return str(code) if code is not None else None
    return None


def _wait_active(client: DynamoDBClient, name: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        table = client.describe_table(TableName=name)["Table"]
        statuses = [table.get("TableStatus")]
        statuses += [g.get("IndexStatus") for g in table.get("GlobalSecondaryIndexes", [])]
        if all(s == "ACTIVE" for s in statuses):
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"table {name} not ACTIVE after {timeout_s:.0f}s: {statuses}")
        time.sleep(0.2)


def _enable_ttl(client: DynamoDBClient, name: str, attribute: str) -> None:
    try:
        client.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute}
        )
    except Exception as exc:
        if _error_code(exc) != "ValidationException":
            raise
        # Already enabled (the table existed): fine if it is on the same attribute.
        current = client.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
        if (
            current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING")
            or current.get("AttributeName") != attribute
        ):
            raise


def create_tables(
    dynamodb_client: DynamoDBClient,
    name_prefix: str,
    *,
    enable_ttl: bool = True,
    template: Mapping[str, Any] | Path | str | None = None,
    timeout_s: float = 120.0,
) -> dict[str, str]:
    """Create every table of the template; return logical id -> physical table name.

    Names are ``name_prefix + logical_id``. A table that already exists is reused (the call is
    idempotent). With ``enable_ttl`` (default) TTL is switched on for tables whose template
    enables it; pass ``enable_ttl=False`` for DynamoDB Local, which deletes expired items by
    wall-clock time and would fight a virtual clock. Returns once every table and index is ACTIVE.
    """
    specs = table_specs(template)
    names: dict[str, str] = {}
    for logical_id, spec in specs.items():
        name = physical_table_name(name_prefix, logical_id)
        try:
            dynamodb_client.create_table(TableName=name, **spec.create_kwargs)
        except Exception as exc:
            if _error_code(exc) != "ResourceInUseException":
                raise
        names[logical_id] = name
    for logical_id, name in names.items():
        _wait_active(dynamodb_client, name, timeout_s)
        attribute = specs[logical_id].ttl_attribute
        if enable_ttl and attribute:
            _enable_ttl(dynamodb_client, name, attribute)
    return names
