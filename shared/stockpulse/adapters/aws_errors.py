"""botocore's errors stop at the adapters: every AWS call of an adapter runs inside
`as_port_error(...)`, so what leaves it is an error of `stockpulse.ports` with the SDK's message
(the original chained as its cause), and the service layer and the handlers catch only those.

Inside the block an adapter still catches the ClientError that is an answer (a failed condition,
a cancelled transaction) and re-raises the others, which leave as the port error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError


@contextmanager
def as_port_error(port_error: type[Exception]) -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as err:
        raise port_error(str(err)) from err
