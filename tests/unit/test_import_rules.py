"""Import rules: the map at the end of docs/architecture.md, checked by layer.

No module of the Lambda layer outside `stockpulse.adapters`, nor of the runner outside its engine
management (`dynamodb_local.py`, `targets.py`), imports boto3's or botocore's error types (or
catches them by name): the adapters turn them into the errors of `stockpulse.ports`
(StoreUnavailable, PublishFailed, StockItemExists, TransactionContention, ...). The service
modules know the stores through the protocols of `stockpulse.ports` (LedgerStore, ForecastStore,
DashboardStore) and import nothing from the DynamoDB adapters: only `stockpulse.wiring` and the
runner build those. And no runner module imports the command line (`cli.py` imports them, not the
other way round).

By layer (every module a path pattern finds, so new modules are checked too): the domain imports
only itself, pydantic and the standard library; `ports.py` and `records.py` only the domain and
each other; the service modules (every module of `stockpulse/` outside `domain/`, `adapters/`,
`ports.py`, `records.py`, `wiring.py`) no boto3 or botocore at all and, of the adapters, only the
pure helpers; the adapters no service module but the stock sync port, no wiring; the handlers no
boto3 or botocore and, of the adapters, only the robots' webhooks; and no shipped or runner module
imports a module of tests/ or bench/, nor the Lambda layer the runner.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "shared" / "stockpulse"
RUNNER = ROOT / "runner" / "stockpulse_local"
RUNNER_ENGINES = {"dynamodb_local.py", "targets.py"}  # start, reach and probe the engines: botocore's own
NO_BOTO_ERRORS = [
    *sorted(p for p in PACKAGE.rglob("*.py") if "adapters" not in p.relative_to(PACKAGE).parts),
    *sorted(p for p in RUNNER.glob("*.py") if p.name not in RUNNER_ENGINES),
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


def test_the_modules_without_boto_errors_are_found() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in NO_BOTO_ERRORS}
    layer = {f"shared/stockpulse/{n}" for n in ("guard.py", "evaluator.py", "stream.py", "ports.py")}
    assert layer | {"runner/stockpulse_local/session_cmd.py", "runner/stockpulse_local/replay.py"} <= names
    assert not any(name.endswith(tuple(RUNNER_ENGINES)) for name in names)
    assert not any("/adapters/" in name for name in names)
    assert all(p.is_file() for p in NO_BOTO_ERRORS)


@pytest.mark.parametrize("path", NO_BOTO_ERRORS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_module_outside_the_adapters_and_engines_imports_boto_errors(path: Path) -> None:
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


def layer_of(path: Path) -> str:
    """Where a module of the Lambda layer sits in the map: domain, ports, adapters, wiring, services."""
    parts = path.relative_to(PACKAGE).parts
    if parts[0] in ("domain", "adapters"):
        return parts[0]
    return {"ports.py": "ports", "records.py": "ports", "wiring.py": "wiring"}.get(parts[0], "services")


LAMBDA_LAYER = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py")
SERVICES = [p for p in LAMBDA_LAYER if layer_of(p) == "services"]


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


# -- the map by layer (docs/architecture.md, "Import map") --------------------------------------

HANDLERS = sorted((ROOT / "functions").glob("*/*.py"))
STDLIB = set(sys.stdlib_module_names) | {"__future__"}
PURE_ADAPTERS = {"keys", "clock"}  # no I/O: key escaping, clocks
HANDLER_ADAPTERS = {"webhooks"}  # the alert router posts to the robots itself (no boto3 in it)
# Adapters implement ports; stock_sync.py holds the stock sync port (StockSyncPublisher, its values).
ADAPTER_MAY_IMPORT = ("stockpulse.domain", "stockpulse.ports", "stockpulse.records", "stockpulse.adapters",
                      "stockpulse.stock_sync")  # fmt: skip
TEST_AND_BENCH = {p.stem for p in (*(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").glob("*.py"))}


def imports_by_line(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every absolute import; `from m import n` gives both m and m.n."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [
                (node.lineno, node.module),
                *((node.lineno, f"{node.module}.{a.name}") for a in node.names),
            ]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return found


def breaking(path: Path, forbidden: Callable[[str], bool]) -> list[str]:
    return sorted({f"{line}: {module}" for line, module in imports_by_line(path) if forbidden(module)})


def under(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def adapter_named(module: str) -> str | None:
    """`keys` for `stockpulse.adapters.keys` (or a name imported from it); None for other modules."""
    parts = module.split(".")
    return parts[2] if parts[:2] == ["stockpulse", "adapters"] and len(parts) > 2 else None


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("path", [p for p in LAMBDA_LAYER if layer_of(p) == "domain"], ids=rel)
def test_the_domain_imports_only_itself_pydantic_and_the_standard_library(path: Path) -> None:
    def forbidden(module: str) -> bool:
        return module.split(".")[0] not in STDLIB | {"pydantic"} and not under(module, "stockpulse.domain")

    assert breaking(path, forbidden) == [], "the domain is pure: no boto3, Powertools, ports or adapters"


@pytest.mark.parametrize("path", [p for p in LAMBDA_LAYER if layer_of(p) == "ports"], ids=rel)
def test_the_ports_import_only_the_domain(path: Path) -> None:
    def forbidden(module: str) -> bool:
        own = under(module, "stockpulse.domain", "stockpulse.ports", "stockpulse.records")
        return module.split(".")[0] not in STDLIB and not own

    assert breaking(path, forbidden) == []


@pytest.mark.parametrize("path", SERVICES, ids=rel)
def test_the_service_modules_import_no_boto_and_only_the_pure_adapters(path: Path) -> None:
    def forbidden(module: str) -> bool:
        adapter = adapter_named(module)
        aws = under(module, "boto3", "botocore")
        return aws or (adapter is not None and adapter not in PURE_ADAPTERS)

    assert breaking(path, forbidden) == [], "talk to AWS through the ports; wiring.py builds the adapters"


@pytest.mark.parametrize("path", [p for p in LAMBDA_LAYER if layer_of(p) == "adapters"], ids=rel)
def test_the_adapters_import_no_service_module_and_no_wiring(path: Path) -> None:
    def forbidden(module: str) -> bool:
        return module.startswith("stockpulse.") and not under(module, *ADAPTER_MAY_IMPORT)

    assert breaking(path, forbidden) == [], "an adapter implements a port: it calls no service"


@pytest.mark.parametrize("path", HANDLERS, ids=rel)
def test_the_handlers_import_no_boto_and_get_the_aws_adapters_through_wiring(path: Path) -> None:
    def forbidden(module: str) -> bool:
        adapter = adapter_named(module)
        return under(module, "boto3", "botocore") or (adapter is not None and adapter not in HANDLER_ADAPTERS)

    assert breaking(path, forbidden) == [], "use stockpulse.wiring (clients) and the service modules"


@pytest.mark.parametrize("path", [*LAMBDA_LAYER, *HANDLERS, *sorted(RUNNER.glob("*.py"))], ids=rel)
def test_nothing_shipped_or_run_imports_tests_or_bench(path: Path) -> None:
    lambda_code = not path.is_relative_to(RUNNER)

    def forbidden(module: str) -> bool:
        top = module.split(".")[0]
        return top in TEST_AND_BENCH | {"tests", "bench"} or (lambda_code and top == "stockpulse_local")

    assert breaking(path, forbidden) == [], "the Lambda layer ships alone; the runner is never shipped"


def test_the_layer_rules_see_what_they_forbid(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import boto3\n"
        "from stockpulse.adapters import keys, sns\n"
        "from stockpulse.adapters.dynamodb_ledger import DynamoLedgerStore\n"
        "from stockpulse.domain.ledger import Move\n"
        "import support\n",
        encoding="utf-8",
    )
    assert adapter_named("stockpulse.adapters.keys.order_key") == "keys"
    found = breaking(module, lambda m: under(m, "boto3") or adapter_named(m) not in {None, *PURE_ADAPTERS})
    assert [line.split(":")[0] for line in found] == ["1", "2", "3", "3"]
    assert [line.split(":")[0] for line in breaking(module, lambda m: m in TEST_AND_BENCH)] == ["5"]
