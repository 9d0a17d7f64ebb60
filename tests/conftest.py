import os
import sys
import tempfile
from collections.abc import Generator
from pathlib import Path

import pytest

# Compiled race loops go to a cache of this run's own (subprocesses inherit it): no test loads a
# kernel another run compiled, and nothing is written to the user's ~/.cache.
os.environ["OPTARENA_CACHE_DIR"] = tempfile.mkdtemp(prefix="optarena-test-cache-")

# Shared test helpers (the article's classes, the optimizer case table) import by name.
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent / "optim"))


# --- CI=true: a missing reference package fails; slow tests run ------------------------------
#: Set by .ci/run (and by most CI services). There every package the test extra names is installed,
#: so a test that ``pytest.importorskip`` would skip has lost its reference: it fails instead.
CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
SLOW_REASON = "slow: runs in CI (CI=true) or with --runslow"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run the tests marked slow (CI=true runs them always)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CI or config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason=SLOW_REASON)
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def _missing_package(report: pytest.CollectReport | pytest.TestReport) -> str | None:
    """The reason, when ``report`` is a skip for a package that could not be imported."""
    if not report.skipped or not isinstance(report.longrepr, tuple):
        return None
    reason = str(report.longrepr[2])
    return reason if "could not import" in reason else None


def _fail_if_missing_in_ci(report: pytest.CollectReport | pytest.TestReport) -> None:
    why = _missing_package(report) if CI else None
    if why:
        report.outcome = "failed"
        report.longrepr = (f"CI=true: every reference package must be installed, but this would have been "
                           f"skipped ({why}); install the test extra: pip install -e '.[test]'")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    _fail_if_missing_in_ci(report)
    return report


def _missing_at_collection(config: pytest.Config) -> list[pytest.CollectReport | pytest.TestReport]:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    return [r for r in reporter.stats.get("skipped", []) if _missing_package(r)] if CI and reporter else []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A module or folder skipped for a missing package (``importorskip`` at import time) is a
    collection skip, not a test report: with CI=true the session fails on it at the end."""
    if _missing_at_collection(session.config):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    missing = _missing_at_collection(config)
    if missing:
        terminalreporter.write_sep("=", "CI=true: these were skipped for a missing reference package: FAILED", red=True)
        for r in missing:
            terminalreporter.write_line(f"{r.nodeid or r.longrepr[0]}: {r.longrepr[2]}")


@pytest.fixture(autouse=True)
def _torch_default_dtype_restored() -> Generator[None, None, None]:
    """Every test leaves torch's default dtype as it found it (float32 if torch was not loaded yet):
    a parity test that sets float64 and forgets would otherwise change every later test's tensors
    (the web's training race produced no epochs after one did)."""
    torch = sys.modules.get("torch")
    old = torch.get_default_dtype() if torch is not None else None
    yield
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_default_dtype(old if old is not None else torch.float32)
