"""Scenario scheduling for pytest-xdist: the longest scenarios first, spread so that the workers finish together."""

from __future__ import annotations

import statistics
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from xdist.scheduler import LoadScheduling

from faultlab.harness.history.store import HistoryError, HistoryStore
from faultlab.harness.scenario import load_scenario
from faultlab.lab.errors import ConfigError

Estimate = Callable[[str], float]
HISTORY_RUNS = 5  # the median of this many recent passed runs estimates a scenario's wall time
HISTORY_WAIT_S = 5.0  # the longest the first round waits for the history to be read


def plan_first_round(estimates: Sequence[float], workers: int) -> tuple[list[list[int]], list[int]]:
    """Longest processing time first: the items (indexes) each worker gets at once, and the rest in the order
    workers should take them as they free up. A worker runs an item only once it holds the next one (or is told
    to stop), so with more to come each worker gets two; when everything fits in the first round every item is
    placed on the worker with the least estimated work."""
    order = sorted(range(len(estimates)), key=lambda i: -estimates[i])  # stable: equal estimates keep file order
    everything = len(order) <= 2 * workers
    first = order if everything else order[: 2 * workers]
    plan: list[list[int]] = [[] for _ in range(workers)]
    load = [0.0] * workers
    for i in first:
        room = [w for w in range(workers) if everything or len(plan[w]) < 2]
        w = min(room, key=lambda k: (load[k], len(plan[k]), k))
        plan[w].append(i)
        load[w] += estimates[i]
    return plan, ([] if everything else order[len(first) :])


class ScenarioScheduling(LoadScheduling):  # type: ignore[misc]
    """xdist's `load` scheduling, except that a collection of scenarios only is handed out longest first with
    the first round balanced by estimated wall time (xdist's own sends each worker two consecutive items, so four
    scenarios on two workers split by file order). Any other collection is scheduled exactly as `load` does."""

    collection: list[str] | None  # xdist's own attributes (xdist has no type information)
    pending: list[int]
    node2collection: dict[Any, list[str]]
    node2pending: dict[Any, list[int]]

    def __init__(self, config: Any, log: Any, estimate: Estimate) -> None:
        super().__init__(config, log)
        self.estimate = estimate

    def schedule(self) -> None:
        if self.collection is not None or not self._check_nodes_have_same_collection():  # already scheduled
            super().schedule()
            return
        collection = next(iter(self.node2collection.values()))
        if not collection or not all(is_scenario_id(c) for c in collection):
            super().schedule()
            return
        ids: list[str] = list(collection)
        self.collection = ids
        if self.config.getoption("maxschedchunk") is None:
            self.maxschedchunk = len(ids)
        nodes = self.nodes
        plan, rest = plan_first_round([self.estimate(c) for c in ids], len(nodes))
        self.pending[:] = rest
        for node, items in zip(nodes, plan, strict=True):
            if items:
                self.node2pending[node].extend(items)
                node.send_runtest_some(items)
        if not self.pending:
            for node in nodes:
                node.shutdown()


def is_scenario_id(nodeid: str) -> bool:
    """A node id of a scenario item: `scenarios/x.yaml::x`."""
    path = nodeid.split("::", 1)[0]
    return path.endswith((".yaml", ".yml"))


def estimator(rootpath: Path, history_url: str | None, wait_s: float = HISTORY_WAIT_S) -> Estimate:
    """Estimated wall seconds of a scenario item: the median of its recent passed runs in the history, else 0 (a
    hold is an expression of the host's settings, known only once a lab is up: without history, file order).
    The history is read in a thread from now on (while the workers start); a history that does not answer within
    `wait_s` (a database host that is down) leaves every estimate at 0 rather than holding the run."""
    past: dict[str, list[float]] = {}

    def load() -> None:
        if history_url is None:
            return
        try:
            with HistoryStore(history_url) as store:
                for run in store.runs():
                    if run.outcome == "passed" and run.duration_s is not None:
                        past.setdefault(run.scenario, []).append(run.duration_s)
        except HistoryError:
            past.clear()  # no history yet (or unreachable): the files' order stands

    loader = threading.Thread(target=load, name="faultlab-history-estimates", daemon=True)
    loader.start()

    def estimate(nodeid: str) -> float:
        loader.join(wait_s)
        if loader.is_alive():
            return 0.0
        path = rootpath / nodeid.split("::", 1)[0]
        try:
            sc = load_scenario(path)
        except (ConfigError, OSError):
            return 0.0
        runs = past.get(sc.name, [])[-HISTORY_RUNS:]
        return float(statistics.median(runs)) if runs else 0.0

    return estimate
