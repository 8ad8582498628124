"""`stockpulse`: replay a sale, rehearse one, load a session into a stack (contract section 3).

    stockpulse replay SCENARIO.json [--json REPORT.json] [--backend auto|moto|dynamodb-local]
                      [--state-dir DIR] [--picture PATH.png | --no-picture] [--quiet]
                      [--serve [--speed X]]
    stockpulse rehearse [--shape ...] [--skus N] [--stock N] [--forecast N] [--events N]
                        [--seed N] [--minutes N] [--out DIR] [--backend ...] [--serve [--speed X]]
    stockpulse review REPORT.json --scenario SCENARIO.json [--out DIR]
    stockpulse session load SCENARIO.json (--stack NAME | --endpoint-url URL --table NAME) [--overwrite]
    stockpulse session status SESSION_ID (--stack NAME | --endpoint-url URL --table NAME)

Exit status: 0 when the command ran (a replay exits 0 whatever it found), 2 for a scenario file
that does not parse or validate (the message names the field), 1 when something outside the
file failed (DynamoDB Local missing, a stack not found, a session's stock already loaded).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from pydantic import ValidationError

from stockpulse_local import rehearse as rehearsal
from stockpulse_local.errors import CommandError
from stockpulse_local.progress import MessagePrinter, ProgressBar, use_colour
from stockpulse_local.report import Report, ShowReport, write_report
from stockpulse_local.scenario import Scenario, ScenarioError, load_scenario

if TYPE_CHECKING:
    from stockpulse_local.review import Review

EXIT_OK, EXIT_FAILED, EXIT_BAD_SCENARIO = 0, 1, 2
BACKENDS = ("auto", "moto", "dynamodb-local")  # auto: DynamoDB Local where it can run, else moto
BACKEND_HELP = "auto (default): DynamoDB Local where Java >= 17 and its jar are, else embedded moto"


# -- one replay with everything people see around it -------------------------------------------
@dataclass
class Run:
    """A replay with its progress bar, live alerts, timeline and per-SKU outcomes."""

    scenario: Scenario
    backend: str = "moto"
    quiet: bool = False
    err: TextIO = field(default_factory=lambda: sys.stderr)
    label: str = "replay"
    serve: bool = False  # show the live-room big screen while it runs
    speed: float = 60.0  # with serve: virtual seconds per wall second
    state_dir: Path | None = None  # DynamoDB Local's files and the checkpoint: a killed run resumes

    def execute(self) -> Report:
        from stockpulse import wiring
        from stockpulse_local.dynamodb_local import DynamoDBLocalUnavailable
        from stockpulse_local.replay import Replay, ResumeError, Stack, open_backend
        from stockpulse_local.timeline import OutcomeLog

        session = self.scenario.plan.session
        tz = session.starts_at.tzinfo
        self.outcomes = OutcomeLog()
        self.progress = ProgressBar(
            len(self.scenario.events), tz=tz, stream=self.err, quiet=self.quiet, label=self.label
        )
        colour = use_colour(self.err)
        printer: MessagePrinter | None = None

        def observe(run: Any) -> None:
            now = run.clock.now_ms()
            if not self.quiet and printer is not None:
                for notice in printer.fresh(run.notices):
                    self.progress.message(printer.describe(notice, colour))
            self.progress.update(run.events_done, now)
            if self.serve:  # pace the virtual clock so people can watch the sale unfold
                ahead = (now - session.starts_ms) / 1000 / self.speed - (time.monotonic() - paced_from)
                if ahead > 0:
                    time.sleep(min(ahead, 5.0))

        def finish(run: Any) -> None:
            observe(run)

        if self.backend == "dynamodb-local":
            self.progress.message("starting DynamoDB Local ...")
        try:
            with open_backend(self.backend, self.state_dir) as opened:
                stack = Stack.create(opened)
                self.progress.begin()  # the rate counts replay work, not the backend's start
                server = None
                try:
                    run = Replay(
                        self.scenario, stack, on_batch=observe, on_outcome=self.outcomes.record,
                        checkpoint_path=self.state_dir / "checkpoint.json" if self.state_dir else None,
                    )  # fmt: skip
                    printer = MessagePrinter(run.routing, tz=tz)
                    self.timeline = run.timeline
                    self.resumed_at = run.resumed_at
                    if run.resumed_at:  # the messages before the stop were shown by the stopped run
                        printer.fresh(run.notices)
                        self.progress.message(
                            f"resuming at event {run.resumed_at} of {len(self.scenario.events)}"
                            f" from {self.state_dir} (the picture and per-SKU summary cover the rest)"
                        )
                    if self.serve:
                        from stockpulse_local.serve import start_server

                        server = start_server(stack.store, session_id=session.session_id, clock=run.clock)
                        self.progress.message(f"big screen: {server.url}  (speed x{self.speed:g})")
                    paced_from = time.monotonic()
                    report = run.run()
                    finish(run)
                    if server is not None:
                        self.progress.message(
                            f"sale over; the big screen stays up at {server.url} (Ctrl-C ends)"
                        )
                        _wait_for_interrupt()
                finally:
                    if server is not None:
                        server.stop()
                    wiring.install(None)
        except (DynamoDBLocalUnavailable, ResumeError) as err:
            raise CommandError(str(err)) from None
        events = len(self.scenario.events)
        self.progress.finish(
            f"{self.label}: {events} events in {self.progress.elapsed_s:.1f} s"
            f" ({events / self.progress.elapsed_s:,.1f} events/s) on {self.backend}"
        )
        return report

    def picture(self, report: Report, png: Path) -> list[Path]:
        """The PNG (matplotlib) and the HTML beside it; the HTML even if matplotlib is missing."""
        from stockpulse_local.picture import write_html, write_png

        written: list[Path] = []
        try:
            written.append(write_png(self.timeline, report, png))
        except ImportError as err:
            print(f"stockpulse: no PNG ({err}); the HTML picture is still written", file=self.err)
        written.append(write_html(self.timeline, report, png.with_suffix(".html")))
        return written

    def review(self, report: Report, out_dir: Path) -> tuple[Review, list[Path]]:
        """review.md, review.csv and curves.csv in `out_dir`. A resumed run logged the outcomes
        after the stop only: its refused units then come from the report's orders."""
        from stockpulse_local.review import build_review, curves_of

        outcomes = None if self.resumed_at else self.outcomes
        review = build_review(report, self.scenario, outcomes=outcomes, curves=curves_of(self.timeline))
        return review, review.write(out_dir)

    def summary(self, report: Report, out: TextIO) -> None:
        from stockpulse_local.summary import render_summary

        out.write(
            render_summary(report, self.scenario, outcomes=self.outcomes, colour=use_colour(out)) + "\n"
        )


def _wait_for_interrupt() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80] or "session"


def read_report(path: Path, scenario: Scenario) -> ShowReport:
    """A report `replay --json` wrote for this scenario: what its review reads."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CommandError(f"cannot read the report {path}: {err}") from None
    # Another scenario's report is named as such, before its SKUs are read.
    skus = data.get("skus") if isinstance(data, dict) else None
    missing = [s.sku_id for s in scenario.plan.skus if isinstance(skus, dict) and s.sku_id not in skus]
    if missing:
        raise CommandError(f"{path} is not this scenario's report: it has no SKU {', '.join(missing)}")
    try:
        return ShowReport.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "report"
        raise CommandError(
            f"{path} is not a replay report (docs/formats.md): {where}: {first['msg']}"
        ) from None


def _where(
    out: TextIO,
    report: Path | None,
    pictures: Sequence[Path],
    review: tuple[Review, list[Path]] | None = None,
    *,
    next_show: bool = True,
) -> None:
    """The files written; with a review, each SKU's line on what to change next show."""
    if report is not None:
        out.write(f"report   {report}\n")
    for i, path in enumerate(pictures):
        note = "  (open in a browser, hover the curves)" if path.suffix == ".html" else ""
        out.write(f"{'picture' if i == 0 else '':8} {path}{note}\n")
    if review is not None:
        written, (md, *beside) = review
        out.write(f"review   {md}  ({', '.join(p.name for p in beside)} beside it)\n")
        if next_show:
            advice = written.next_show()
            width = max(map(len, advice), default=0)
            for sku_id, lines in advice.items():
                out.write(f"  {sku_id:{width}}  next show: {'; '.join(a.en for a in lines)}\n")


# -- commands ----------------------------------------------------------------------------------
def resolve_backend(name: str, quiet: bool) -> str:
    """`auto`: the real engine wherever it can run, moto elsewhere; says which and why."""
    if name != "auto":
        return name
    from stockpulse_local.dynamodb_local import unavailable_reason

    reason = unavailable_reason()
    chosen = "moto" if reason else "dynamodb-local"
    if not quiet:
        why = f"embedded moto ({reason})" if reason else "DynamoDB Local (Java and its jar are here)"
        print(f"stockpulse: backend {why}; --backend picks one", file=sys.stderr, flush=True)
    return chosen


def cmd_replay(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    backend = resolve_backend(args.backend, args.quiet)
    if args.state_dir and backend != "dynamodb-local":
        raise CommandError("--state-dir keeps DynamoDB Local's files: add --backend dynamodb-local")
    state_dir = Path(args.state_dir) if args.state_dir else None
    run = Run(scenario, backend=backend, quiet=args.quiet, state_dir=state_dir, serve=args.serve,
              speed=args.speed)  # fmt: skip
    report = run.execute()
    report_path = write_report(report, Path(args.json)) if args.json else None
    pictures: list[Path] = []
    if not args.no_picture:
        png = (
            Path(args.picture)
            if args.picture
            else Path("out") / f"replay-{_safe(scenario.plan.session.session_id)}" / "sale.png"
        )
        pictures = run.picture(report, png)
    # Beside the report, else beside the picture; a replay that writes neither writes no review.
    beside = report_path or (pictures[0] if pictures else None)
    review = run.review(report, beside.parent) if beside else None
    if args.quiet:
        if beside:
            _where(sys.stderr, report_path, pictures, review, next_show=False)
        return EXIT_OK
    run.summary(report, sys.stdout)
    sys.stdout.write("\n")
    _where(sys.stdout, report_path, pictures, review)
    return EXIT_OK


def cmd_rehearse(args: argparse.Namespace) -> int:
    try:
        options = rehearsal.RehearsalOptions(
            shape=args.shape,
            skus=args.skus,
            stock=args.stock,
            forecast=args.forecast,
            events=args.events,
            seed=args.seed,
            minutes=args.minutes,
        )
    except ValueError as err:
        raise CommandError(str(err)) from None
    out_dir = Path(args.out or rehearsal.default_out_dir(options))
    generated = rehearsal.generate(options)
    out_dir.mkdir(parents=True, exist_ok=True)
    scenario_path = out_dir / "scenario.json"
    scenario_path.write_text(json.dumps(generated, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    scenario = load_scenario(scenario_path)  # replay exactly what was written
    log = sys.stderr if args.quiet else sys.stdout
    if not args.quiet:
        log.write(f"rehearsal {options.shape} (seed {options.seed}): {rehearsal.describe(generated)}\n")
        log.write(f"scenario {scenario_path}  (edit it and run `stockpulse replay` on it)\n\n")
        log.flush()
    backend = resolve_backend(args.backend, args.quiet)
    run = Run(scenario, backend=backend, quiet=args.quiet, label="rehearsal", serve=args.serve,
              speed=args.speed)  # fmt: skip
    report = run.execute()
    report_path = write_report(report, out_dir / "report.json")
    pictures = run.picture(report, out_dir / "sale.png")
    review = run.review(report, out_dir)
    if args.quiet:
        _where(sys.stderr, report_path, pictures, review, next_show=False)
        return EXIT_OK
    sys.stdout.write("\n")
    run.summary(report, sys.stdout)
    sys.stdout.write("\n")
    _where(sys.stdout, report_path, pictures, review)
    return EXIT_OK


def cmd_review(args: argparse.Namespace) -> int:
    """The post-show review of a saved report; the curves from the curves.csv a replay wrote
    beside it, if there is one (minutes sold out and paused need them)."""
    from stockpulse_local.review import CURVES_CSV, build_review, read_curves

    scenario = load_scenario(args.scenario)
    report_path = Path(args.report)
    report = read_report(report_path, scenario)
    curves_path = report_path.parent / CURVES_CSV
    try:
        curves = (
            read_curves(curves_path, scenario.plan.session.starts_at.tzinfo) if curves_path.exists() else None
        )
    except (OSError, ValueError, KeyError) as err:
        raise CommandError(f"cannot read {curves_path}: {err!r}") from None
    review = build_review(report, scenario, curves=curves)
    _where(sys.stdout, None, [], (review, review.write(Path(args.out) if args.out else report_path.parent)))
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    """The page and the dashboard API on 127.0.0.1, behind a random token printed here."""
    from stockpulse.adapters.dynamodb_ledger import DynamoLedgerStore
    from stockpulse_local.serve import start_server
    from stockpulse_local.targets import resolve_target

    target = resolve_target(args)
    server = start_server(
        DynamoLedgerStore(target.client, target.table), session_id=args.session_id, port=args.port
    )
    print(f"big screen for {args.session_id} ({target.where}):\n  {server.url}\nCtrl-C ends.", flush=True)
    try:
        _wait_for_interrupt()
    finally:
        server.stop()
    return EXIT_OK


# -- the parser --------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from stockpulse_local import session_cmd, targets

    parser = argparse.ArgumentParser(
        prog="stockpulse",
        description="Replay and rehearse live sales through the stockpulse Lambda handlers.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("replay", help="replay a scenario file and report (contract section 3)")
    p.add_argument("scenario", metavar="SCENARIO.json")
    p.add_argument("--json", metavar="REPORT.json", help="write the report here")
    p.add_argument("--backend", choices=BACKENDS, default="auto", help=BACKEND_HELP)
    p.add_argument(
        "--state-dir",
        metavar="DIR",
        help="DynamoDB Local keeps its tables in DIR with a checkpoint per batch: run the same"
        " command again after the runner was stopped and it resumes with the same final report",
    )
    pic = p.add_mutually_exclusive_group()
    pic.add_argument(
        "--picture",
        metavar="PATH.png",
        help="where the picture goes (an .html beside it); default out/replay-<session>/sale.png",
    )
    pic.add_argument("--no-picture", action="store_true", help="draw nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bar, alerts or summary; one final line")
    _watch_options(p)
    p.set_defaults(func=cmd_replay)

    p = commands.add_parser("rehearse", help="generate a realistic sale and replay it")
    p.add_argument("--shape", choices=rehearsal.SHAPES, default=rehearsal.DEFAULT_SHAPE)
    p.add_argument("--skus", type=int, default=rehearsal.DEFAULT_SKUS, metavar="N")
    p.add_argument(
        "--stock", type=int, metavar="N", help="on_hand per SKU (default: sized from the forecast)"
    )
    p.add_argument(
        "--forecast", type=int, metavar="N", help="forecast per SKU (default: sized from the events)"
    )
    p.add_argument(
        "--events", type=int, default=rehearsal.DEFAULT_EVENTS, metavar="N", help="about this many events"
    )
    p.add_argument("--seed", type=int, default=rehearsal.DEFAULT_SEED, metavar="N")
    p.add_argument("--minutes", type=int, metavar="N", help="the show's length (default: the shape's)")
    p.add_argument("--out", metavar="DIR", help="default out/rehearsal-<shape>-<seed>/")
    p.add_argument("--backend", choices=BACKENDS, default="auto", help=BACKEND_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress bar, alerts or summary")
    _watch_options(p)
    p.set_defaults(func=cmd_rehearse)

    p = commands.add_parser("review", help="the post-show review of a saved report (Chinese and English)")
    p.add_argument("report", metavar="REPORT.json", help="a report `replay --json` wrote")
    p.add_argument("--scenario", metavar="SCENARIO.json", required=True, help="the scenario it replayed")
    p.add_argument("--out", metavar="DIR", help="where review.md and review.csv go; default the report's")
    p.set_defaults(func=cmd_review)

    p = commands.add_parser("serve", help="the live-room big screen for a session in a table")
    p.add_argument("session_id", metavar="SESSION_ID")
    targets.target_options(p)
    p.add_argument("--port", type=int, default=0, help="default: a free port")
    p.set_defaults(func=cmd_serve)

    session_cmd.add_commands(commands)
    return parser


def _watch_options(p: argparse.ArgumentParser) -> None:
    """--serve and --speed: any replayed sale (a user's scenario or a rehearsal) can be watched."""
    p.add_argument(
        "--serve", action="store_true", help="watch it on the live-room big screen (prints the URL)"
    )
    p.add_argument("--speed", type=_speed, default=60.0, metavar="X", help="with --serve: virtual s per s")


def _speed(text: str) -> float:
    value = float(text)
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"the speed must be above 0, not {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except ScenarioError as err:
        print(f"stockpulse: {getattr(args, 'scenario', 'scenario')}: {err}", file=sys.stderr)
        return EXIT_BAD_SCENARIO
    except CommandError as err:
        print(f"stockpulse: {err}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("\nstockpulse: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
