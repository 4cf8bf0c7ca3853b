"""The pytest plugin behind `nox -s conformance` (registered through the `pytest11` entry
point, so `pytest --pyargs conformance.cases` finds it too).

It stays inert unless conformance cases are being run (or `--target` is given). Then, on the
process that owns the session (the xdist controller, or the only process):

- starts the target before any case and stops it at the end; xdist workers get the
  target's description (`TargetInfo`) through `workerinput`, so every worker talks to the
  same cluster and controller;
- selects cases (`--profile`, `--feature`, `--level`), marks baseline entries as xfail;
- records per case what the harness measured (time to consistency, errors, observations);
- writes the reports, applies the gate (`--gate`) to the exit status and prints a
  one-screen summary.
"""

from __future__ import annotations

import dataclasses
import datetime
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from .harness import consistency, record
from .harness.client import HttpClient
from .harness.consistency import DEFAULT as DEFAULT_SETTINGS
from .harness.exclusive import locked
from .harness.kube import Kube
from .levels import FEATURES, GATES, LEVELS, PROFILES, SLOW_FEATURES
from .report.baseline import Baseline, BaselineError
from .report.model import CaseResult, build_report
from .report.summary import terminal_summary
from .report.writers import write_reports
from .targets import TargetError, TargetInfo, TargetOptions, make_target

CASES_DIR = Path(__file__).parent / "cases"
STATE = pytest.StashKey["SessionState"]()
PROPERTY = "conformance"  # the user_properties key carrying a case's metadata


# ---- options and activation ---------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "Ingress conformance suite")
    group.addoption("--target", default=None,
                    help="target to run against: simulator (default), nginx, haproxy (the "
                         "reference controller driving a real proxy), kubeconfig, traefik, "
                         "haproxy-ingress or kind")
    group.addoption("--kubeconfig", default=None,
                    help="kubeconfig of the cluster (target kubeconfig; default $KUBECONFIG)")
    group.addoption("--http-address", default=None,
                    help="HOST:PORT where the controller takes HTTP (target kubeconfig)")
    group.addoption("--https-address", default=None,
                    help="HOST:PORT where the controller takes HTTPS (target kubeconfig)")
    group.addoption("--ingress-class", default=None,
                    help="IngressClass the cases use (target kubeconfig; default: the "
                         "cluster's default class)")
    group.addoption("--controller-version", default=None,
                    help="controller version to record in the report")
    group.addoption("--prestop-seconds", type=int, default=None,
                    help="preStop sleep of the zero-downtime recipe (default: the target's)")
    group.addoption("--simulator-process", action="store_true",
                    help="run the simulator as `python -m simulator up` instead of a thread")
    group.addoption("--haproxy-ingress-bin", default=None,
                    help="HAProxy Ingress controller binary (target haproxy-ingress; the "
                         "rootfs/ of its version beside it; default: the cached build, else "
                         "built from the Go module)")
    group.addoption("--traefik-bin", default=None,
                    help="Traefik binary (target traefik; default: traefik on PATH, else "
                         "built once from source into ~/.cache/ingress-conformance)")
    group.addoption("--nginx-bin", default=None,
                    help="nginx binary for --target nginx (default: nginx on PATH)")
    group.addoption("--haproxy-bin", default=None,
                    help="haproxy binary for --target haproxy (default: haproxy on PATH)")
    group.addoption("--controller", default=None,
                    choices=["ingress-nginx", "traefik", "haproxy-ingress"],
                    help="controller to install (target kind; default ingress-nginx)")
    group.addoption("--provider", default=None, choices=["kind", "k3s"],
                    help="how target kind makes its cluster: kind (default) or k3s "
                         "(testcontainers, needs only Docker)")
    group.addoption("--keep-cluster", action="store_true",
                    help="leave target kind's cluster running after the run")
    group.addoption("--gate", choices=sorted(GATES), default="core",
                    help="fail the run when a case of this level (or stricter) fails")
    group.addoption("--baseline", default=None,
                    help="YAML file of known failures of this target: they become xfail")
    group.addoption("--profile", choices=sorted(PROFILES), default="full",
                    help="named selection of cases (full, core, quick)")
    group.addoption("--feature", action="append", default=[], choices=FEATURES,
                    help="run only this feature (repeatable)")
    group.addoption("--level", action="append", default=[], choices=LEVELS,
                    help="run only cases of this level (repeatable)")
    group.addoption("--consistency-timeout", type=float, default=DEFAULT_SETTINGS.timeout_s,
                    help="seconds a case waits for the target to converge (default 30, as "
                         "in Gateway API conformance)")
    group.addoption("--report-dir", default="reports",
                    help="where reports go: DIR/latest and a timestamped copy (default: "
                         "reports)")


def _active(config: pytest.Config) -> bool:
    if config.getoption("target"):
        return True
    for arg in config.args:
        spec = arg.split("::", 1)[0]
        if spec.startswith("conformance.cases") or spec == "conformance":
            return True
        path = Path(spec)
        if path.exists():
            resolved = path.resolve()
            if resolved == CASES_DIR or CASES_DIR in resolved.parents:
                return True
    return False


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


class SessionState:
    """What one conformance session holds, on every process."""

    def __init__(self, config: pytest.Config, info: TargetInfo | None) -> None:
        self.config = config
        self.info = info
        self.target: Any = None
        self.results: dict[str, CaseResult] = {}
        # nodeids: the cases selected to run (None until known), and those whose teardown
        # report arrived; a selected case that never finished makes the run incomplete.
        self.expected: set[str] | None = None
        self.finished: set[str] = set()
        self.started = time.monotonic()
        self.started_at = datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds")
        self.baseline = _load_baseline(config)
        self.report_paths: list[Path] = []
        self.report: dict[str, Any] | None = None
        self.lock_path = ""
        self.lock_file: Any = None


def _load_baseline(config: pytest.Config) -> Baseline | None:
    path = config.getoption("baseline")
    if not path:
        return None
    try:
        return Baseline.load(path)
    except BaselineError as exc:
        raise pytest.UsageError(str(exc)) from exc


def _progress(config: pytest.Config) -> Any:
    reporter = config.pluginmanager.get_plugin("terminalreporter")

    def say(message: str) -> None:
        if reporter is not None:
            reporter.write_line(f"conformance: {message}")
    return say


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "feature(name): the conformance feature of a case")
    config.addinivalue_line("markers", "level(name): core, extended or implementation-specific")
    if not _active(config):
        return
    consistency.configure(dataclasses.replace(
        DEFAULT_SETTINGS, timeout_s=config.getoption("consistency_timeout")))
    if _is_worker(config):
        workerinput = config.workerinput  # type: ignore[attr-defined]
        state = SessionState(config, TargetInfo.from_json(workerinput["conformance_target"]))
        state.lock_path = workerinput["conformance_lock"]
        config.stash[STATE] = state
        return
    state = SessionState(config, None)
    # Lives as long as the session; removed when closed at exit.
    state.lock_file = tempfile.NamedTemporaryFile(prefix="conformance-", suffix=".lock")  # noqa: SIM115
    state.lock_path = state.lock_file.name
    config.stash[STATE] = state


@pytest.hookimpl(tryfirst=True)  # before xdist starts its workers (trylast there)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Start the target on the process that owns the session, showing progress."""
    config = session.config
    state = config.stash.get(STATE, None)
    if state is None or _is_worker(config) or config.getoption("collectonly"):
        return
    options = TargetOptions(
        kubeconfig=config.getoption("kubeconfig"),
        http_address=config.getoption("http_address"),
        https_address=config.getoption("https_address"),
        ingress_class=config.getoption("ingress_class"),
        controller_version=config.getoption("controller_version"),
        prestop_seconds=config.getoption("prestop_seconds"),
        simulator_process=config.getoption("simulator_process"),
        nginx_bin=config.getoption("nginx_bin"),
        haproxy_bin=config.getoption("haproxy_bin"),
        traefik_bin=config.getoption("traefik_bin"),
        haproxy_ingress_bin=config.getoption("haproxy_ingress_bin"),
        controller=config.getoption("controller"),
        provider=config.getoption("provider"),
        keep_cluster=config.getoption("keep_cluster"),
    )
    say = _progress(config)
    name = config.getoption("target") or "simulator"
    started = time.monotonic()
    try:
        state.target = make_target(name, options)
        state.info = state.target.start(say)
    except TargetError as exc:
        if state.target is not None:
            state.target.stop()
            state.target = None
        raise pytest.UsageError(f"target {name}: {exc}") from exc
    info = state.info
    say(f"target {info.name} ready in {time.monotonic() - started:.1f}s: controller "
        f"{info.controller} {info.version}, class {info.ingress_class}, "
        f"http {info.http_address}, https {info.https_address}")
    config.pluginmanager.register(ReportCollector(state), "conformance-report")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(info, state.lock_path),
                                      "conformance-xdist")


class _XdistHooks:
    """Hands the target's description to each xdist worker."""

    def __init__(self, info: TargetInfo, lock_path: str) -> None:
        self.info = info
        self.lock_path = lock_path

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["conformance_target"] = self.info.to_json()
        node.workerinput["conformance_lock"] = self.lock_path


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None and state.target is not None:
        state.target.stop()
        state.target = None


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    state = config.stash.get(STATE, None)
    if state is None or state.info is None:
        return None
    gate = config.getoption("gate")
    baseline = config.getoption("baseline") or "none"
    return [f"conformance target: {state.info.name} ({state.info.controller} "
            f"{state.info.version}); gate: {gate}; baseline: {baseline}"]


# ---- collection ------------------------------------------------------------------------------


def case_meta(item: pytest.Item) -> tuple[str, str, str]:
    """(case id, feature, level) of a conformance case, from its markers and name."""
    feature_marker = item.get_closest_marker("feature")
    level_marker = item.get_closest_marker("level")
    if feature_marker is None or level_marker is None:
        raise pytest.UsageError(f"{item.nodeid}: every conformance case needs a feature and "
                                "a level marker")
    feature, level = feature_marker.args[0], level_marker.args[0]
    if feature not in FEATURES or level not in LEVELS:
        raise pytest.UsageError(f"{item.nodeid}: unknown feature {feature!r} or level "
                                f"{level!r}")
    name = getattr(item, "originalname", item.name).removeprefix("test_")
    callspec = getattr(item, "callspec", None)
    case_id = f"{feature}/{name}" + (f"[{callspec.id}]" if callspec else "")
    return case_id, feature, level


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    state = config.stash.get(STATE, None)
    if state is None:
        return
    features, levels = PROFILES[config.getoption("profile")]
    only_features = set(config.getoption("feature")) or None
    only_levels = set(config.getoption("level")) or None
    keep, drop = [], []
    for item in items:
        case_id, feature, level = case_meta(item)
        selected = ((features is None or feature in features)
                    and (levels is None or level in levels)
                    and (only_features is None or feature in only_features)
                    and (only_levels is None or level in only_levels))
        (keep if selected else drop).append(item)
        if state.baseline is not None:
            entry = state.baseline.entry(case_id)
            if entry is not None:
                item.add_marker(pytest.mark.xfail(reason=f"baseline: {entry.reason}",
                                                  strict=False))
    if drop:
        config.hook.pytest_deselected(items=drop)
    # Slow features first, so that parallel workers finish together; stable otherwise.
    keep.sort(key=lambda it: case_meta(it)[1] not in SLOW_FEATURES)
    items[:] = keep


# ---- per-case recording ----------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if STATE in item.config.stash:
        item.stash[_RECORD] = record.begin()


_RECORD = pytest.StashKey[record.CaseRecord]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    report = yield
    if STATE in item.config.stash:
        case_id, feature, level = case_meta(item)
        rec = item.stash.get(_RECORD, None)
        report.user_properties.append((PROPERTY, {
            "id": case_id, "feature": feature, "level": level,
            "time_to_consistency_s": rec.time_to_consistency_s if rec else None,
            "errors": rec.errors if rec else None,
            "observations": dict(rec.observations) if rec else {},
        }))
    return report


def _message(report: pytest.TestReport) -> str:
    if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message).splitlines()[0][:500]
    return str(report.longrepr or "")[:500]


class ReportCollector:
    """On the process that owns the session: folds each case's setup/call/teardown reports
    (from xdist workers, or local) into one CaseResult, then writes the reports, applies the
    gate and prints the summary."""

    def __init__(self, state: SessionState) -> None:
        self.state = state

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """With xdist, the selected cases (every worker collects the same ones)."""
        self.state.expected = set(ids)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        meta = dict(report.user_properties).get(PROPERTY)
        result = self.state.results.get(report.nodeid)
        if meta is None:
            # xdist's report for a case whose worker died carries none of our properties.
            if report.failed and result is not None:
                result.outcome = "failed"
                result.message = f"the worker running it crashed: {_message(report)}"
            return
        if result is None:
            result = self.state.results[report.nodeid] = CaseResult(
                id=meta["id"], feature=meta["feature"], level=meta["level"],
                outcome="passed", duration_s=0.0)
        if report.when == "teardown":
            self.state.finished.add(report.nodeid)
        result.duration_s += report.duration
        result.time_to_consistency_s = meta["time_to_consistency_s"]
        result.errors = meta["errors"]
        result.observations = meta["observations"]
        wasxfail = getattr(report, "wasxfail", None)
        if report.outcome == "failed" and result.outcome != "failed":
            result.outcome = "failed"
            result.message = f"{report.when}: {_message(report)}"
        elif report.outcome == "skipped" and result.outcome == "passed":
            result.outcome = "xfailed" if wasxfail is not None else "skipped"
            # A baselined case keeps what actually went wrong beside the documented reason,
            # so a new failure of a listed case is not hidden behind the old explanation.
            result.message = _message(report) if wasxfail is None else \
                f"{wasxfail}; this run: {report.when}: {_message(report)}"
        elif report.when == "call" and report.outcome == "passed" and wasxfail is not None:
            result.message = (f"passed, but listed in the baseline ({wasxfail}): "
                              "remove the entry")

    def _unfinished(self, session: pytest.Session) -> list[str]:
        """Cases selected but not finished (a crash, `-x`, Ctrl-C), marked failed when they
        had started; their ids (nodeids for those that never started)."""
        state = self.state
        expected = state.expected if state.expected is not None else \
            {item.nodeid for item in session.items}
        unfinished = []
        for nodeid in sorted(expected | set(state.results)):
            if nodeid in state.finished:
                continue
            result = state.results.get(nodeid)
            if result is None:
                unfinished.append(nodeid)
                continue
            if result.outcome != "failed":
                result.outcome = "failed"
                result.message = "did not finish: the run stopped (or its worker crashed) " \
                                 "while it ran"
            unfinished.append(result.id)
        return unfinished

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        state, config = self.state, session.config
        if state.info is None:
            return
        gate = config.getoption("gate")
        info = state.info
        unmatched = [] if state.baseline is None else sorted(
            set(state.baseline.entries) - {r.id for r in state.results.values()})
        report = build_report(
            {"name": info.name, "controller": info.controller, "version": info.version,
             "ingress_class": info.ingress_class},
            state.started_at, time.monotonic() - state.started, list(state.results.values()),
            gate, config.getoption("baseline"), incomplete=self._unfinished(session),
            baseline_unmatched=unmatched)
        state.report = report
        state.report_paths = write_reports(report, Path(config.getoption("report_dir")))
        if state.target is not None:
            paths = state.report_paths
            state.target.finished(report, [paths[0].parent, *paths[-1:]])
        # Only gated failures and unfinished cases fail the run; interruptions and errors
        # keep their own status.
        if exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            session.exitstatus = (pytest.ExitCode.OK if report["gate"]["passed"]
                                  else pytest.ExitCode.TESTS_FAILED)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.state.report is not None:
            for line in terminal_summary(self.state.report, self.state.report_paths):
                terminalreporter.write_line(line)


# ---- fixtures for cases ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config) -> TargetInfo:
    """The target under test (what the cases may know about it)."""
    state = pytestconfig.stash.get(STATE, None)
    if state is None or state.info is None:
        pytest.fail("conformance cases need the conformance plugin to be active "
                    "(run them with `python -m conformance run` or `nox -s conformance`)")
    return state.info


@pytest.fixture(scope="session")
def kube(target: TargetInfo) -> Iterator[Kube]:
    """API clients for the target's cluster."""
    api = Kube.from_kubeconfig(target.kubeconfig, target.ingress_class)
    yield api
    api.close()


@pytest.fixture(scope="session")
def http(target: TargetInfo) -> HttpClient:
    """The client for the target's HTTP and HTTPS entry addresses."""
    return HttpClient(target.http_address, target.https_address)


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A CA only this run trusts; cases issue their certificates from it."""
    return trustme.CA()


@pytest.fixture
def namespace(request: pytest.FixtureRequest, kube: Kube) -> Iterator[str]:
    """A fresh namespace for one case, deleted afterwards."""
    feature = request.node.get_closest_marker("feature")
    name = kube.create_namespace(feature.args[0] if feature else "case")
    yield name
    kube.delete_namespace(name)


@pytest.fixture(scope="module")
def module_namespace(request: pytest.FixtureRequest, kube: Kube) -> Iterator[str]:
    """A namespace shared by a module's read-only cases (objects created once per worker)."""
    name = kube.create_namespace(request.module.__name__.rsplit(".", 1)[-1]
                                 .removeprefix("test_"))
    yield name
    kube.delete_namespace(name)


@pytest.fixture
def catch_all(pytestconfig: pytest.Config) -> Iterator[None]:
    """Held by a case that puts a catch-all (defaultBackend) in place: no other case that
    asserts what unmatched requests get runs meanwhile (see harness.exclusive)."""
    with locked(pytestconfig.stash[STATE].lock_path, exclusive=True):
        yield


@pytest.fixture
def no_catch_all(pytestconfig: pytest.Config) -> Iterator[None]:
    """Held by a case that asserts what an unmatched request gets (404)."""
    with locked(pytestconfig.stash[STATE].lock_path, exclusive=False):
        yield
