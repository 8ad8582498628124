"""Integration tests run against Amazon DynamoDB Local (the real engine), one per test session.

Under pytest-xdist each worker is its own session, so each worker gets its own instance.
"""

from collections.abc import Iterator

import pytest

from stockpulse_local.dynamodb_local import DynamoDBLocal, DynamoDBLocalUnavailable


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDBLocal]:
    ddb = DynamoDBLocal()
    try:
        ddb.start()
    except DynamoDBLocalUnavailable as exc:
        problem = str(exc)
    else:
        problem = ""
    if problem:
        # Fail, never skip: a missing engine must not turn the integration suite green.
        pytest.fail(f"DynamoDB Local is required for integration tests: {problem}", pytrace=False)
    try:
        yield ddb
    finally:
        ddb.stop()
