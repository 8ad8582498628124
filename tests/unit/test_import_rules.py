"""Import rules: the service layer knows the stores through their ports.

No module of the Lambda layer outside `stockpulse.adapters`, nor the runner's session commands,
imports boto3's or botocore's error types (or catches them by name): the DynamoDB adapters turn
them into the errors of `stockpulse.ports` (StoreUnavailable, StockItemExists,
TransactionContention, ...). The service modules know the stores through the protocols of
`stockpulse.ports` (LedgerStore, ForecastStore, DashboardStore) and import nothing from the
DynamoDB adapters: only `stockpulse.wiring` and the runner build those. No runner module
imports the command line (`cli.py` imports them, not the other way round). And `stockpulse.domain`
is pure: it imports no boto3, botocore or Powertools, and nothing of stockpulse outside itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "shared" / "stockpulse"
RUNNER = ROOT / "runner" / "stockpulse_local"
SERVICE_MODULES = [
    *sorted(p for p in PACKAGE.rglob("*.py") if "adapters" not in p.relative_to(PACKAGE).parts),
    RUNNER / "session_cmd.py",
]
BOTO_ERRORS = {"ClientError", "BotoCoreError"}
ERROR_MODULES = ("botocore.exceptions", "boto3.exceptions", "botocore.errorfactory")


def boto_error_imports(path: Path) -> list[str]:
    """Every import of boto's error modules or error types in `path`, as `line: what`."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = {a.name for a in node.names}
            top = node.module.split(".")[0]
            if (
                node.module.startswith(ERROR_MODULES)
                or (node.module in ("botocore", "boto3") and names & {"exceptions", "errorfactory"})
                or (top in ("botocore", "boto3") and names & BOTO_ERRORS)
            ):
                found.append(f"{node.lineno}: from {node.module} import {', '.join(sorted(names))}")
        elif isinstance(node, ast.Import):
            found += [
                f"{node.lineno}: import {a.name}" for a in node.names if a.name.startswith(ERROR_MODULES)
            ]
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in BOTO_ERRORS | {"exceptions"}
            and isinstance(node.value, ast.Name)
            and node.value.id in ("botocore", "boto3")
        ):
            found.append(f"{node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_the_service_modules_are_found() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in SERVICE_MODULES}
    layer = {f"shared/stockpulse/{n}" for n in ("guard.py", "evaluator.py", "stream.py", "ports.py")}
    assert layer | {"runner/stockpulse_local/session_cmd.py"} <= names
    assert not any("/adapters/" in name for name in names)
    assert all(p.is_file() for p in SERVICE_MODULES)


@pytest.mark.parametrize("path", SERVICE_MODULES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_service_module_imports_boto_errors(path: Path) -> None:
    assert boto_error_imports(path) == [], "catch the port errors of stockpulse.ports instead"


def test_the_rule_sees_what_it_forbids(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import botocore.exceptions\n"
        "from botocore.exceptions import ClientError\n"
        "from botocore import exceptions\n"
        "import botocore\n"
        "try:\n    pass\nexcept botocore.exceptions.BotoCoreError:\n    pass\n",
        encoding="utf-8",
    )
    assert [line.split(":")[0] for line in boto_error_imports(module)] == ["1", "2", "3", "7"]


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


@pytest.mark.parametrize("path", sorted(RUNNER.glob("*.py")), ids=lambda p: p.name)
def test_no_runner_module_imports_the_command_line(path: Path) -> None:
    if path.name == "cli.py":
        return
    assert "stockpulse_local.cli" not in imports_of(path), "shared helpers live in errors.py, targets.py"


PORT_USERS = [
    PACKAGE / n for n in ("guard.py", "evaluator.py", "stock_sync.py", "dashboard.py", "pre_show.py")
]


def dynamo_adapter_imports(path: Path) -> list[str]:
    """Every import of a `stockpulse.adapters.dynamodb_*` module (or of a name from one) in `path`."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules = {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        elif isinstance(node, ast.Import):
            modules = {a.name for a in node.names}
        else:
            continue
        if any(m.startswith("stockpulse.adapters.dynamodb_") for m in modules):
            found.append(f"{node.lineno}: {', '.join(sorted(modules))}")
    return found


@pytest.mark.parametrize("path", PORT_USERS, ids=lambda p: p.name)
def test_the_service_layer_imports_no_dynamodb_adapter(path: Path) -> None:
    assert dynamo_adapter_imports(path) == [], "type against stockpulse.ports; wiring.py builds the adapters"


def test_the_dynamodb_rule_sees_what_it_forbids(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from stockpulse.adapters.dynamodb_ledger import DynamoLedgerStore\n"
        "import stockpulse.adapters.dynamodb_forecast\n"
        "from stockpulse.adapters import dynamodb_ledger\n"
        "from stockpulse.adapters import clock, keys\n"
        "from stockpulse.records import StockItem\n",
        encoding="utf-8",
    )
    assert [line.split(":")[0] for line in dynamo_adapter_imports(module)] == ["1", "2", "3"]


def test_of_the_lambda_layer_only_the_wiring_builds_the_dynamodb_adapters() -> None:
    """The runner may build them too (its own backend); the Lambda layer only in `wiring.py`."""
    builders = {
        p.relative_to(ROOT).as_posix()
        for p in PACKAGE.rglob("*.py")
        if "adapters" not in p.relative_to(PACKAGE).parts and dynamo_adapter_imports(p)
    }
    assert builders == {"shared/stockpulse/wiring.py"}


DOMAIN_MODULES = sorted((PACKAGE / "domain").glob("*.py"))
OUTSIDE_DOMAIN = ("boto3", "botocore", "aws_lambda_powertools")


def outside_domain_imports(path: Path) -> list[str]:
    """What `path` imports from AWS, Powertools, or stockpulse outside `stockpulse.domain`."""
    return sorted(
        m
        for m in imports_of(path)
        if m.split(".")[0] in OUTSIDE_DOMAIN
        or (m.startswith("stockpulse.") and not m.startswith("stockpulse.domain"))
        or m == "stockpulse"
    )


@pytest.mark.parametrize("path", DOMAIN_MODULES, ids=lambda p: p.name)
def test_the_domain_imports_nothing_outside_it(path: Path) -> None:
    assert outside_domain_imports(path) == [], "the domain is pure: no AWS, Powertools, adapters or services"


def test_the_domain_rule_sees_what_it_forbids(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import boto3\n"
        "from aws_lambda_powertools import Logger\n"
        "from stockpulse.adapters import keys\n"
        "from stockpulse import guard\n"
        "from stockpulse.domain import forecast\n",
        encoding="utf-8",
    )
    assert outside_domain_imports(module) == [
        "aws_lambda_powertools",
        "aws_lambda_powertools.Logger",
        "boto3",
        "stockpulse",
        "stockpulse.adapters",
        "stockpulse.adapters.keys",
        "stockpulse.guard",
    ]
