"""Issue 11, item 10: every alarm notifies someone, on the TRANSFORMED template.

Alarms had no `AlarmActions`, and the two scheduled functions (the sweep and the evaluator) had
no error alarm. Every AWS::CloudWatch::Alarm now notifies OperationsTopic (KMS-encrypted with a
key CloudWatch may use), which e-mails `OperationsEmail` when one is given.
"""

from __future__ import annotations

import re
from typing import Any

import test_template as base  # the transformed template and its helpers: one source of truth

cfn = base.cfn
raw = base.raw
_of_type, _props = base._of_type, base._props

OPERATIONS = {"Ref": "OperationsTopic"}


def test_every_alarm_notifies_the_operations_topic(cfn: dict[str, Any]) -> None:
    alarms = _of_type(cfn, "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 8
    for logical_id, alarm in alarms.items():
        props = alarm["Properties"]
        assert props.get("ActionsEnabled", True) is True, logical_id
        assert props.get("AlarmActions") == [OPERATIONS], f"{logical_id} notifies no one"
        assert props.get("OKActions") == [OPERATIONS], f"{logical_id} never says it cleared"


def test_the_scheduled_functions_have_error_alarms(cfn: dict[str, Any]) -> None:
    by_function = {
        json_dim["Value"]["Ref"]: props
        for props in (a["Properties"] for a in _of_type(cfn, "AWS::CloudWatch::Alarm").values())
        if props["Namespace"] == "AWS/Lambda" and props["MetricName"] == "Errors"
        for json_dim in props["Dimensions"]
        if json_dim["Name"] == "FunctionName"
    }
    for function in ("ReservationExpiryFunction", "ThresholdEvaluatorFunction"):
        props = by_function[function]  # the sweep and the per-minute evaluator
        assert props["Statistic"] == "Sum" and props["Threshold"] == 0
        assert props["ComparisonOperator"] == "GreaterThanThreshold"
        assert props["Period"] * props["EvaluationPeriods"] <= 5 * 60  # noticed within minutes
        assert props["TreatMissingData"] == "notBreaching"


def test_the_operations_topic_is_encrypted_with_a_key_cloudwatch_may_use(cfn: dict[str, Any]) -> None:
    topic = _props(cfn, "OperationsTopic")
    assert topic["KmsMasterKeyId"] == {"Ref": "OperationsTopicKey"}  # alias/aws/sns refuses CloudWatch
    key = _props(cfn, "OperationsTopicKey")
    assert key["EnableKeyRotation"] is True
    [cloudwatch] = [
        s for s in key["KeyPolicy"]["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert set(cloudwatch["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert cloudwatch["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_the_operations_email_is_optional(cfn: dict[str, Any], raw: dict[str, Any]) -> None:
    param = raw["Parameters"]["OperationsEmail"]
    assert param["Default"] == ""
    pattern = re.compile(param["AllowedPattern"])
    assert pattern.fullmatch("") and pattern.fullmatch("ops@example.com")
    assert not pattern.fullmatch("not an address")
    sub = cfn["Resources"]["OperationsEmailSubscription"]
    assert sub["Condition"] == "HasOperationsEmail"
    assert cfn["Conditions"]["HasOperationsEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "OperationsEmail"}, ""]}]
    }
    assert sub["Properties"] == {
        "TopicArn": OPERATIONS,
        "Protocol": "email",
        "Endpoint": {"Ref": "OperationsEmail"},
    }
    assert cfn["Outputs"]["OperationsTopicArn"]["Value"] == OPERATIONS
