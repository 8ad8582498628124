"""The rejected-events queue: malformed records are kept, with their reason, for a person to look at."""

from __future__ import annotations

import base64
import json
from typing import Any

from stockpulse.adapters.aws_errors import as_port_error
from stockpulse.ports import PublishFailed

# SQS takes 256 KiB; keep the raw payload well inside it.
MAX_RAW_BYTES = 64 * 1024


class SqsDeadLetters:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._sqs = client
        self._url = queue_url

    def send(self, *, reason: str, field: str, message: str, raw: bytes, source: dict[str, str]) -> None:
        body = {
            "reason": reason,
            "field": field,
            "message": message,
            "source": source,
            "raw_base64": base64.b64encode(raw[:MAX_RAW_BYTES]).decode(),
            "raw_truncated": len(raw) > MAX_RAW_BYTES,
        }
        with as_port_error(PublishFailed):
            self._sqs.send_message(QueueUrl=self._url, MessageBody=json.dumps(body))
