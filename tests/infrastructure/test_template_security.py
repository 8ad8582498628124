"""Security of the deployed system, read off the TRANSFORMED template (what CloudFormation gets).

test_template.py proves the wiring; this module proves the blast radius:
- every function has a role of its own whose effective permissions (inline policies, attached
  policies and AWS managed policies) reach only that function's resources, with no `*` resource
  and no wildcard action; the only managed policies are the log/trace writers;
- what the handlers really call (recorded during a small replay on moto, plus the router and the
  dashboard) is granted by their roles: least privilege, but not too little to work;
- nothing can invoke a function, send to a queue or publish to a topic from outside its source;
- every table, queue, topic, stream and log group is encrypted at rest / has a retention;
- every checkov check skipped in template.yaml is justified in place (`make checkov` runs checkov).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import botocore.client
import pytest
import test_template as base  # the transformed template and its helpers: one source of truth

# test_template.py's module-scoped fixtures (the template as written / transformed), registered here.
cfn = base.cfn
raw = base.raw
FUNCTIONS, ROOT = base.FUNCTIONS, base.ROOT
_as_list, _of_type, _props = base._as_list, base._of_type, base._props

# ---------------------------------------------------------------------------- resolving resources

# What a resource expression of a policy points at: a logical id (optionally with a suffix such
# as "/index/by_expiry" or "/stream"), or "ssm:<parameter path>".
_SUB_REF = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.(Arn|StreamArn))?\}")
_SSM_ARN = re.compile(
    r"^arn:\$\{AWS::Partition\}:ssm:\$\{AWS::Region\}:\$\{AWS::AccountId\}:parameter(/[A-Za-z0-9_./*-]+)$"
)
_SAM_TEMPLATE_ARN = re.compile(
    r"^arn:\$\{AWS::Partition\}:(sns|sqs):\$\{AWS::Region\}:\$\{AWS::AccountId\}:\$\{(topicName|queueName)\}$"
)
_SAM_TEMPLATE_ATTRIBUTE = {"topicName": "TopicName", "queueName": "QueueName"}


class UnknownResource(AssertionError):
    pass


def target_of(expr: Any) -> str:
    """The logical target of one Resource entry; anything not understood fails the test."""
    if isinstance(expr, dict) and set(expr) == {"Ref"}:
        return str(expr["Ref"])
    if isinstance(expr, dict) and set(expr) == {"Fn::GetAtt"}:
        logical_id, attribute = expr["Fn::GetAtt"]
        if attribute == "Arn":
            return str(logical_id)
        if attribute == "StreamArn":
            return f"{logical_id}/stream"
    if isinstance(expr, dict) and set(expr) == {"Fn::Sub"}:
        sub = expr["Fn::Sub"]
        if isinstance(sub, str):
            ssm = _SSM_ARN.match(sub)
            if ssm:
                return f"ssm:{ssm.group(1)}"
            m = _SUB_REF.fullmatch(sub.split("/", 1)[0])
            if m and m.group(2) == "Arn" and "/" in sub:  # "${Table.Arn}/index/name"
                return f"{m.group(1)}/{sub.split('/', 1)[1]}"
        elif isinstance(sub, list) and len(sub) == 2:  # SAM policy templates
            pattern, variables = sub
            m = _SAM_TEMPLATE_ARN.match(pattern)
            if m and set(variables) == {m.group(2)}:
                logical_id, attribute = variables[m.group(2)]["Fn::GetAtt"]
                if attribute == _SAM_TEMPLATE_ATTRIBUTE[m.group(2)]:
                    return str(logical_id)
    raise UnknownResource(f"unrecognised policy resource {json.dumps(expr)}")


# ---------------------------------------------------------------------------- effective permissions

# AWS managed policies a function role may carry: they only write the function's own logs and
# traces. Anything else (SAM's AWSLambdaKinesisExecutionRole / AWSLambdaDynamoDBExecutionRole read
# every stream in the account) must be written out, scoped, instead.
ALLOWED_MANAGED_POLICIES = {
    "service-role/AWSLambdaBasicExecutionRole",  # logs:CreateLogGroup/CreateLogStream/PutLogEvents
    "AWSXrayWriteOnlyAccess",  # xray:PutTraceSegments/PutTelemetryRecords/GetSampling*
}
_MANAGED_ARN = re.compile(r"^arn:(?:aws|\$\{AWS::Partition\}):iam::aws:policy/(.+)$")


def _function_role(cfn: dict[str, Any], function: str) -> str:
    role = _props(cfn, function)["Role"]
    assert isinstance(role, dict) and set(role) == {"Fn::GetAtt"} and role["Fn::GetAtt"][1] == "Arn", role
    role_id = str(role["Fn::GetAtt"][0])
    assert cfn["Resources"][role_id]["Type"] == "AWS::IAM::Role", role_id
    return role_id


def _statements(cfn: dict[str, Any], role_id: str) -> Iterator[dict[str, Any]]:
    """Every statement granted to the role: inline policies and policies that name the role."""
    for policy in cfn["Resources"][role_id]["Properties"].get("Policies", []):
        yield from _as_list(policy["PolicyDocument"]["Statement"])
    for resource in cfn["Resources"].values():
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            props = resource["Properties"]
            if {"Ref": role_id} in props.get("Roles", []):
                yield from _as_list(props["PolicyDocument"]["Statement"])


def _managed_policies(cfn: dict[str, Any], role_id: str) -> list[str]:
    names = []
    for arn in cfn["Resources"][role_id]["Properties"].get("ManagedPolicyArns", []):
        text = arn["Fn::Sub"] if isinstance(arn, dict) and set(arn) == {"Fn::Sub"} else arn
        m = _MANAGED_ARN.match(str(text))
        assert m, f"{role_id}: managed policy {arn!r} is not an AWS managed policy ARN"
        names.append(m.group(1))
    return names


def granted(cfn: dict[str, Any], function: str) -> dict[str, set[str]]:
    """IAM action (as written, may hold `*`) -> logical targets, for the function's role."""
    grants: dict[str, set[str]] = {}
    for stmt in _statements(cfn, _function_role(cfn, function)):
        assert stmt["Effect"] == "Allow"
        for action in _as_list(stmt["Action"]):
            for resource in _as_list(stmt["Resource"]):
                assert resource != "*", f"{function}: {action} on Resource '*'"
                grants.setdefault(str(action), set()).add(target_of(resource))
    return grants


def allows(grants: dict[str, set[str]], action: str, target: str) -> bool:
    return any(
        fnmatch.fnmatchcase(action.lower(), pattern.lower())
        and any(fnmatch.fnmatchcase(target, t) for t in ts)
        for pattern, ts in grants.items()
    )


# ---------------------------------------------------------------------------- what each function may do

TABLE_READ = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"}
# The ledger never deletes (TTL does) and never scans.
TABLE_WRITE = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"}
KINESIS_READ = {
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
}
DDB_STREAM_READ = {
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
}
PUBLISH = {"sns:Publish"}
# Powertools Idempotency's records: read, claimed, completed, and deleted when a delivery fails.
DELIVERY_RECORDS = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
SEND = {"sqs:SendMessage", "sqs:SendMessage*"}
SSM_READ = {"ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"}

TOPICS = ("AlertsTopic", "SupplyChainTopic", "StockSyncTopic")

# function -> target -> the actions it may have there. The first action listed under `REQUIRED`
# must be granted (the function cannot work without it); nothing outside `ALLOWED` may be.
ALLOWED: dict[str, dict[str, set[str]]] = {
    "OrderStreamFunction": {
        "OrdersStream": KINESIS_READ,
        "LedgerTable": TABLE_READ | TABLE_WRITE,
        **{topic: PUBLISH for topic in TOPICS},
        "RejectedEventsQueue": SEND,
        "OrderStreamFailureQueue": SEND,  # the event source mapping's on-failure destination
    },
    "ReservationExpiryFunction": {
        "LedgerTable/stream": DDB_STREAM_READ,
        "LedgerTable": TABLE_READ | TABLE_WRITE,
        "LedgerTable/index/by_expiry": {"dynamodb:Query"},
        **{topic: PUBLISH for topic in TOPICS},
        "ExpiryStreamFailureQueue": SEND,
    },
    "ThresholdEvaluatorFunction": {
        "LedgerTable": TABLE_READ | TABLE_WRITE | {"dynamodb:BatchWriteItem"},  # FORECAST items, 25 a request
        **{topic: PUBLISH for topic in TOPICS},
    },
    "AlertRouterFunction": {
        "ssm:/stockpulse/webhooks": SSM_READ,
        "ssm:/stockpulse/webhooks/*": SSM_READ,
        "AlertRouterDeadLetterQueue": SEND,
        "RobotDeliveryTable": DELIVERY_RECORDS,
    },
    "DashboardApiFunction": {
        "LedgerTable": TABLE_READ,  # read-only
    },
}
REQUIRED: dict[str, dict[str, set[str]]] = {
    "OrderStreamFunction": {
        "OrdersStream": {"kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:DescribeStream"},
        "LedgerTable": TABLE_WRITE | {"dynamodb:GetItem"},
        "AlertsTopic": PUBLISH,
        "RejectedEventsQueue": {"sqs:SendMessage"},
        "OrderStreamFailureQueue": {"sqs:SendMessage"},
    },
    "ReservationExpiryFunction": {
        "LedgerTable/stream": {"dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:DescribeStream"},
        "LedgerTable": TABLE_WRITE | {"dynamodb:GetItem"},
        "LedgerTable/index/by_expiry": {"dynamodb:Query"},
        "ExpiryStreamFailureQueue": {"sqs:SendMessage"},
        # A release settling a red first (its earlier settle failed) sends the restock request.
        "SupplyChainTopic": PUBLISH,
    },
    "ThresholdEvaluatorFunction": {
        "LedgerTable": TABLE_WRITE | {"dynamodb:Query", "dynamodb:BatchWriteItem"}
    },
    "AlertRouterFunction": {
        "ssm:/stockpulse/webhooks": {"ssm:GetParametersByPath"},
        "AlertRouterDeadLetterQueue": {"sqs:SendMessage"},
        "RobotDeliveryTable": DELIVERY_RECORDS,
    },
    "DashboardApiFunction": {"LedgerTable": {"dynamodb:GetItem", "dynamodb:Query"}},
}


def test_the_allow_lists_cover_every_function() -> None:
    assert set(ALLOWED) == set(REQUIRED) == set(FUNCTIONS)


def test_each_function_has_its_own_role_assumable_by_lambda_only(cfn: dict[str, Any]) -> None:
    roles = {function: _function_role(cfn, function) for function in FUNCTIONS}
    assert len(set(roles.values())) == len(roles), f"a role is shared: {roles}"
    used_by = [
        r["Properties"]["Role"]
        for r in _of_type(cfn, "AWS::Lambda::Function").values()
        if "Role" in r["Properties"]
    ]
    for role_id in roles.values():
        assert used_by.count({"Fn::GetAtt": [role_id, "Arn"]}) == 1, f"{role_id} is used by another function"
        props = cfn["Resources"][role_id]["Properties"]
        [trust] = _as_list(props["AssumeRolePolicyDocument"]["Statement"])
        assert trust["Effect"] == "Allow"
        assert _as_list(trust["Action"]) == ["sts:AssumeRole"]
        assert trust["Principal"] in (
            {"Service": "lambda.amazonaws.com"},
            {"Service": ["lambda.amazonaws.com"]},
        ), role_id
        assert "PermissionsBoundary" not in props or props["PermissionsBoundary"]


def test_every_policy_belongs_to_one_function_role(cfn: dict[str, Any]) -> None:
    roles = {_function_role(cfn, function) for function in FUNCTIONS}
    for logical_id, policy in _of_type(cfn, "AWS::IAM::Policy").items():
        attached = policy["Properties"].get("Roles", [])
        assert len(attached) == 1 and attached[0]["Ref"] in roles, f"{logical_id} is attached to {attached}"
        assert not policy["Properties"].get("Users") and not policy["Properties"].get("Groups"), logical_id
    assert not _of_type(cfn, "AWS::IAM::ManagedPolicy"), "a managed policy can be attached to anything"


def test_stream_permissions_exist_before_their_mapping(cfn: dict[str, Any]) -> None:
    """Lambda checks the role can read the stream when the mapping is created: the permission is
    inline in the role, or in a policy the function DependsOn (the mapping Refs the function)."""
    reads = {"AWS::Kinesis::Stream": "kinesis:GetRecords", "AWS::DynamoDB::Table": "dynamodb:GetRecords"}
    for logical_id, mapping in _of_type(cfn, "AWS::Lambda::EventSourceMapping").items():
        props = mapping["Properties"]
        function = props["FunctionName"]["Ref"]
        source = target_of(props["EventSourceArn"])
        action = reads[cfn["Resources"][source.split("/")[0]]["Type"]]
        role_id = _function_role(cfn, function)
        inline = [
            stmt
            for policy in cfn["Resources"][role_id]["Properties"].get("Policies", [])
            for stmt in _as_list(policy["PolicyDocument"]["Statement"])
        ]
        depends = _as_list(cfn["Resources"][function].get("DependsOn", []))
        before = inline + [
            stmt
            for name in depends
            if cfn["Resources"][name]["Type"] == "AWS::IAM::Policy"
            for stmt in _as_list(cfn["Resources"][name]["Properties"]["PolicyDocument"]["Statement"])
        ]
        assert any(
            action in _as_list(s["Action"]) and source in {target_of(r) for r in _as_list(s["Resource"])}
            for s in before
        ), f"{logical_id}: {function} may not read {source} yet when the mapping is created"
        destination = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        if destination:
            queue = target_of(destination)
            assert any(
                "sqs:SendMessage" in _as_list(s["Action"])
                and queue in {target_of(r) for r in _as_list(s["Resource"])}
                for s in before
            ), f"{logical_id}: {function} may not send to its on-failure destination {queue}"


def test_only_log_and_trace_writer_managed_policies(cfn: dict[str, Any]) -> None:
    for function in FUNCTIONS:
        role_id = _function_role(cfn, function)
        managed = _managed_policies(cfn, role_id)
        assert set(managed) <= ALLOWED_MANAGED_POLICIES, (
            f"{function}: managed policies {sorted(set(managed) - ALLOWED_MANAGED_POLICIES)} reach beyond "
            "its own resources (write the permissions out, scoped to the resource, instead)"
        )
        assert "service-role/AWSLambdaBasicExecutionRole" in managed, f"{function} could not write its logs"
        assert "AWSXrayWriteOnlyAccess" in managed, f"{function} has Tracing: Active but cannot send traces"


def test_no_wildcards_in_any_statement(cfn: dict[str, Any]) -> None:
    """No `*` resource at all (data or not) and no `service:*` action, in any role of the stack."""
    for role_id in _of_type(cfn, "AWS::IAM::Role"):
        for stmt in _statements(cfn, role_id):
            assert stmt["Effect"] == "Allow", role_id
            assert not {"NotAction", "NotResource", "NotPrincipal"} & set(stmt), role_id
            for action in _as_list(stmt["Action"]):
                service, _, name = str(action).partition(":")
                assert service and name and name != "*" and not name.startswith("*"), f"{role_id}: {action}"
            for resource in _as_list(stmt["Resource"]):
                assert resource != "*" and "arn:aws:*" not in json.dumps(resource), f"{role_id}: {resource}"


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_each_function_reaches_only_its_own_resources(cfn: dict[str, Any], function: str) -> None:
    grants = granted(cfn, function)
    allowed = ALLOWED[function]
    for action, targets in grants.items():
        for target in targets:
            assert target in allowed, f"{function}: {action} on {target}, which is not one of its resources"
            assert action in allowed[target], f"{function}: {action} on {target} is more than it needs"
    for target, actions in REQUIRED[function].items():
        for action in actions:
            assert allows(grants, action, target), f"{function} cannot {action} on {target}"


def test_stream_reads_are_scoped_to_the_functions_own_stream(cfn: dict[str, Any]) -> None:
    """The reason two roles are written out: SAM's managed stream policies read every stream."""
    order_stream = granted(cfn, "OrderStreamFunction")
    assert {t for a, ts in order_stream.items() if a.startswith("kinesis:") for t in ts} == {"OrdersStream"}
    expiry = granted(cfn, "ReservationExpiryFunction")
    stream_actions = DDB_STREAM_READ - {"dynamodb:ListStreams"}
    assert {t for a, ts in expiry.items() if a in stream_actions for t in ts} == {"LedgerTable/stream"}
    for function in FUNCTIONS:
        if function not in ("OrderStreamFunction", "ReservationExpiryFunction"):
            grants = granted(cfn, function)
            assert not any(a.startswith("kinesis:") or a in DDB_STREAM_READ for a in grants), function


def test_dashboard_is_read_only(cfn: dict[str, Any]) -> None:
    grants = granted(cfn, "DashboardApiFunction")
    assert set(grants) <= TABLE_READ
    assert all(targets == {"LedgerTable"} for targets in grants.values())


# ---------------------------------------------------------------------------- who may call in


def test_every_lambda_permission_names_its_source(cfn: dict[str, Any]) -> None:
    """No function can be invoked by any account or any resource: each permission is one service
    principal with a SourceArn pointing at this stack's rule, topic or API."""
    expected = {
        "events.amazonaws.com": {"AWS::Events::Rule"},
        "sns.amazonaws.com": {"AWS::SNS::Topic"},
        "apigateway.amazonaws.com": {"AWS::ApiGatewayV2::Api"},
    }
    permissions = _of_type(cfn, "AWS::Lambda::Permission")
    assert permissions
    for logical_id, permission in permissions.items():
        props = permission["Properties"]
        assert props["Action"] == "lambda:InvokeFunction", logical_id
        assert props["Principal"] in expected, f"{logical_id}: principal {props['Principal']}"
        assert "SourceArn" in props, f"{logical_id}: any {props['Principal']} resource could invoke"
        text = json.dumps(props["SourceArn"])
        sources = {
            cfn["Resources"][name]["Type"]
            for name in re.findall(r'"Ref": "([A-Za-z0-9]+)"|"Fn::GetAtt": \["([A-Za-z0-9]+)"', text)
            for name in name
            if name in cfn["Resources"]
        } | {
            cfn["Resources"][name]["Type"]
            for name in re.findall(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z]+)?\}", text)
            if name in cfn["Resources"]
        }
        assert sources and sources <= expected[props["Principal"]], f"{logical_id}: {text}"


def test_resource_policies_admit_only_named_sources(cfn: dict[str, Any]) -> None:
    """Queue and topic policies: a service principal, restricted to a source in this stack."""
    for type_ in ("AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
        for logical_id, resource in _of_type(cfn, type_).items():
            for stmt in _as_list(resource["Properties"]["PolicyDocument"]["Statement"]):
                assert stmt["Effect"] == "Allow"
                principal = stmt["Principal"]
                assert principal != "*" and principal != {"AWS": "*"}, logical_id
                assert set(principal) == {"Service"}, logical_id
                condition = json.dumps(stmt.get("Condition", {}))
                assert "aws:SourceArn" in condition and ('"Ref"' in condition or "GetAtt" in condition), (
                    f"{logical_id}: {principal} from any source"
                )


def test_dashboard_api_authenticates_every_route_and_logs_access(cfn: dict[str, Any]) -> None:
    body = _props(cfn, "DashboardHttpApi")["Body"]
    for path, ops in body["paths"].items():
        for method, op in ops.items():
            assert op.get("security"), f"{method.upper()} {path} is open"
    [stage] = [
        s["Properties"]
        for s in _of_type(cfn, "AWS::ApiGatewayV2::Stage").values()
        if s["Properties"]["ApiId"] == {"Ref": "DashboardHttpApi"}
    ]
    settings = stage["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["DashboardApiAccessLogs", "Arn"]}
    fields = json.loads(settings["Format"])
    assert {"requestId", "ip", "routeKey", "status"} <= set(fields)
    # Never the token or the request: only context variables, no header, no body.
    assert all(str(v).startswith("$context.") for v in fields.values())
    assert "header" not in settings["Format"].lower() and "body" not in settings["Format"].lower()
    throttle = stage["DefaultRouteSettings"]
    assert 0 < throttle["ThrottlingRateLimit"] <= throttle["ThrottlingBurstLimit"]


# ---------------------------------------------------------------------------- encryption at rest


def test_every_data_store_is_encrypted_at_rest(cfn: dict[str, Any]) -> None:
    """Generic on purpose: a table, queue, topic or stream added later must be encrypted too."""
    checked = 0
    for logical_id, resource in cfn["Resources"].items():
        props = resource.get("Properties", {})
        match resource["Type"]:
            case "AWS::DynamoDB::Table":
                sse = props.get("SSESpecification", {})
                assert sse.get("SSEEnabled") is True and sse.get("SSEType", "KMS") == "KMS", logical_id
            case "AWS::SQS::Queue":
                assert props.get("SqsManagedSseEnabled") is True or props.get("KmsMasterKeyId"), logical_id
            case "AWS::SNS::Topic":
                assert props.get("KmsMasterKeyId"), logical_id
            case "AWS::Kinesis::Stream":
                enc = props.get("StreamEncryption", {})
                assert enc.get("EncryptionType") == "KMS" and enc.get("KeyId"), logical_id
            case "AWS::S3::Bucket":
                assert props.get("BucketEncryption"), logical_id
                block = props.get("PublicAccessBlockConfiguration", {})
                assert all(
                    block.get(k) is True
                    for k in (
                        "BlockPublicAcls",
                        "BlockPublicPolicy",
                        "IgnorePublicAcls",
                        "RestrictPublicBuckets",
                    )
                ), logical_id
            case "AWS::Logs::LogGroup":
                assert props.get("RetentionInDays"), f"{logical_id} keeps logs forever"
            case _:
                continue
        checked += 1
    assert checked >= 11  # 1 table, 5 queues, 3 topics, 1 stream, 1 log group


def test_subscriptions_to_the_encrypted_topic_can_deliver(cfn: dict[str, Any]) -> None:
    """SNS cannot deliver to a queue encrypted with the AWS managed aws/sqs key (its key policy
    cannot admit sns.amazonaws.com): SNS-fed queues use SSE-SQS or a customer key."""
    for sub in _of_type(cfn, "AWS::SNS::Subscription").values():
        if sub["Properties"]["Protocol"] == "sqs":
            queue = sub["Properties"]["Endpoint"]["Fn::GetAtt"][0]
            key = _props(cfn, queue).get("KmsMasterKeyId")
            assert key is None or "alias/aws/sqs" not in json.dumps(key), queue


# ---------------------------------------------------------------------------- checkov skips


def test_every_skipped_checkov_check_is_justified_in_place(raw: dict[str, Any]) -> None:
    skipped = 0
    for logical_id, resource in raw["Resources"].items():
        skips = resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
        ids = [s.get("id") for s in skips]
        assert len(ids) == len(set(ids)), f"{logical_id}: a check is skipped twice"
        for skip in skips:
            assert set(skip) == {"id", "comment"}, f"{logical_id}: {skip}"
            assert re.fullmatch(r"CKV2?_AWS_\d+", str(skip["id"])), f"{logical_id}: {skip['id']}"
            comment = " ".join(str(skip["comment"]).split())
            assert len(comment) >= 60 and comment.count(" ") >= 8, f"{logical_id}/{skip['id']}: say why"
            skipped += 1
    assert skipped  # the template does skip checks: they must be found here
    # No blanket skips elsewhere: a skip lives next to the resource it excuses.
    for name in (".checkov.yaml", ".checkov.yml"):
        config = ROOT / name
        if config.exists():
            text = config.read_text(encoding="utf-8")
            assert "skip-check" not in text and "soft-fail" not in text, f"{name} skips checks globally"
    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    assert "checkov:skip=" not in text, "use Metadata: checkov: skip: with a comment instead"


def test_checkov_is_pinned_in_its_own_requirements() -> None:
    lines = [
        line.split("#", 1)[0].strip()
        for line in (ROOT / "tools" / "checkov" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    ]
    pins = [line for line in lines if line]
    assert any(re.fullmatch(r"checkov==\d+\.\d+\.\d+", line) for line in pins), pins
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "tools/checkov/requirements.txt" in makefile and ".tools/checkov-venv" in makefile
    # checkov pins an old boto3 that breaks moto: it must never reach the shared venv.
    project = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert "checkov" not in project and "aws-sam-cli" not in project


# ---------------------------------------------------------------------------- granted enough?

# API operation -> IAM actions it needs (per item for batches and transactions).
_DYNAMODB_ITEM_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}


@dataclass(frozen=True)
class Call:
    function: str
    service: str
    operation: str
    params: dict[str, Any]


def needs(call: Call, names: dict[str, str]) -> list[tuple[str, str]]:
    """(IAM action, logical target) pairs the call needs; `names` maps physical names to logical ids."""

    def table(name: str, index: str | None = None) -> str:
        logical = names[name]
        return f"{logical}/index/{index}" if index else logical

    p, op = call.params, call.operation
    if call.service == "dynamodb":
        if op in ("TransactWriteItems", "TransactGetItems"):
            return [
                (_DYNAMODB_ITEM_ACTIONS[kind], table(body["TableName"]))
                for item in p["TransactItems"]
                for kind, body in item.items()
            ]
        if op in ("BatchGetItem", "BatchWriteItem"):
            return [(f"dynamodb:{op}", table(name)) for name in p["RequestItems"]]
        return [(f"dynamodb:{op}", table(p["TableName"], p.get("IndexName")))]
    if call.service == "sns":
        assert op in ("Publish", "PublishBatch"), op  # PublishBatch is authorised as sns:Publish
        return [("sns:Publish", names[p["TopicArn"]])]
    if call.service == "sqs":
        action = "sqs:SendMessage" if op in ("SendMessage", "SendMessageBatch") else f"sqs:{op}"
        return [(action, names[p["QueueUrl"]])]
    if call.service == "ssm":
        if op == "GetParametersByPath":
            return [("ssm:GetParametersByPath", f"ssm:{p['Path'].rstrip('/') or '/'}")]
        return [(f"ssm:{op}", f"ssm:{n}") for n in _as_list(p.get("Names", p.get("Name")))]
    raise AssertionError(f"{call.function} calls {call.service}:{op}, which no role of the stack expects")


@contextmanager
def recording(modules: dict[str, ModuleType]) -> Iterator[list[Call]]:
    """Every AWS call made while one of the handlers runs, tagged with the function that made it."""
    calls: list[Call] = []
    current: list[str] = []
    original_call = botocore.client.BaseClient._make_api_call
    originals = {name: module.handler for name, module in modules.items()}

    def make_api_call(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if current:
            calls.append(Call(current[-1], client.meta.service_model.service_name, operation, dict(params)))
        return original_call(client, operation, params)

    def tagged(function: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        def run(event: Any, context: Any) -> Any:
            current.append(function)
            try:
                return handler(event, context)
            finally:
                current.pop()

        return run

    botocore.client.BaseClient._make_api_call = make_api_call  # type: ignore[method-assign]
    for name, module in modules.items():
        module.handler = tagged(name, originals[name])
    try:
        yield calls
    finally:
        botocore.client.BaseClient._make_api_call = original_call  # type: ignore[method-assign]
        for name, module in modules.items():
            module.handler = originals[name]


def test_every_call_the_handlers_make_is_granted(
    cfn: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other half of least privilege: the roles are not too tight to work. A small rehearsal
    (orders, expiries, evaluations, alerts), a TTL-removal record, the IM router and the dashboard
    run through the real handlers on moto; every AWS call each makes must be granted by its role."""
    from rehearsal import (  # the small rehearsal, shared with the log test
        PARAMETER_PATH,
        Rehearsal,
    )
    from robots import robots_for_router

    from stockpulse_local.replay import load_handler

    folders = {folder: function for function, folder in FUNCTIONS.items()}
    modules = {
        folders[name]: load_handler(name)
        for name in folders
        if (ROOT / "functions" / name / "app.py").exists()
    }
    monkeypatch.setenv("WEBHOOK_PARAMETER_PATH", PARAMETER_PATH)
    with robots_for_router() as robots, Rehearsal(monkeypatch, robots) as rehearsal:
        stock_sync = rehearsal.stack.backend.sns.create_topic(Name="stockpulse-stock-sync")["TopicArn"]
        monkeypatch.setenv("STOCK_SYNC_TOPIC_ARN", stock_sync)
        with recording(modules) as calls:
            rehearsal.run()
            rehearsal.route_alerts()
            rehearsal.ttl_removal()
            rehearsal.dashboard()
        names = {
            rehearsal.stack.store.table_name: "LedgerTable",
            rehearsal.delivery_table: "RobotDeliveryTable",
            rehearsal.stack.alerts_topic_arn: "AlertsTopic",
            rehearsal.stack.supply_topic_arn: "SupplyChainTopic",
            stock_sync: "StockSyncTopic",
            rehearsal.stack.rejected_queue_url: "RejectedEventsQueue",
        }
    by_function: dict[str, set[tuple[str, str]]] = {}
    for call in calls:
        by_function.setdefault(call.function, set()).update(needs(call, names))
    # Every function that exists ran and made calls (a silent rehearsal proves nothing).
    assert set(by_function) == set(modules), sorted(by_function)
    for function, pairs in sorted(by_function.items()):
        grants = granted(cfn, function)
        missing = sorted(pair for pair in pairs if not allows(grants, *pair))
        assert not missing, f"{function} calls AWS without permission in template.yaml: {missing}"
    assert ("dynamodb:Query", "LedgerTable/index/by_expiry") in by_function["ReservationExpiryFunction"]
    assert ("sqs:SendMessage", "RejectedEventsQueue") in by_function["OrderStreamFunction"]
    assert ("ssm:GetParametersByPath", "ssm:/stockpulse/webhooks") in by_function["AlertRouterFunction"]
    assert ("dynamodb:PutItem", "RobotDeliveryTable") in by_function["AlertRouterFunction"]
    assert any(a == "sns:Publish" for a, _ in by_function["OrderStreamFunction"])
