"""The core before its bridges (deploy/order.py): what a bridge runs at once, what waits for the
core, and that a bounded pool cannot leave a bridge waiting on a core that never starts."""

from __future__ import annotations

import threading
import time

from jitsi_deploy.deploy.fleet import run_all
from jitsi_deploy.deploy.order import CoreFirst, cores_first
from jitsi_deploy.settings.inventory import Host
from jitsi_deploy.steps import handlers
from jitsi_deploy.steps.changes import Change
from jitsi_deploy.steps.step import StepPlan

CORE = Host("meet", "core", "203.0.113.10", "203.0.113.10")
BRIDGE = Host("jvb1", "jvb", "203.0.113.11", "203.0.113.11")


def step(name: str) -> StepPlan:
    return StepPlan(name, [Change(name, f"a change of {name}", ())])


STEPS = [step("packages"), step("files"), step(handlers.NAME), step("tls")]


def names(batch: list[StepPlan]) -> list[str]:
    return [s.name for s in batch]


def test_a_bridge_runs_up_to_its_containers_then_waits_for_the_core() -> None:
    order = CoreFirst([CORE, BRIDGE])
    (early, no_wait), (late, wait) = order.batches(BRIDGE, STEPS)
    assert names(early) == ["packages", "files"] and no_wait is None
    assert names(late) == [handlers.NAME, "tls"] and wait is not None


def test_the_core_and_a_bridge_after_the_core_run_everything_at_once() -> None:
    order = CoreFirst([CORE, BRIDGE])
    assert [(names(b), w) for b, w in order.batches(CORE, STEPS)] == [(names(STEPS), None)]
    order.done(CORE)
    assert [(names(b), w) for b, w in order.batches(BRIDGE, STEPS)] == [(names(STEPS), None)]


def test_nothing_waits_without_a_core_in_the_run_or_without_containers_to_start() -> None:
    alone = CoreFirst([BRIDGE])
    assert [w for _, w in alone.batches(BRIDGE, STEPS)] == [None]
    files_only = [step("files")]
    assert [w for _, w in CoreFirst([CORE, BRIDGE]).batches(BRIDGE, files_only)] == [None]


def test_a_bridge_done_does_not_free_the_others() -> None:
    order = CoreFirst([CORE, BRIDGE])
    order.done(BRIDGE)
    assert len(list(order.batches(BRIDGE, STEPS))) == 2


def test_a_bridge_starts_its_containers_only_after_the_core_is_done() -> None:
    """Both at once: the bridge's first steps run while the core applies (the core goes on only
    once they ran), its containers after the core's end."""
    order = CoreFirst([CORE, BRIDGE])
    events: list[tuple[str, str]] = []
    bridge_began = threading.Event()

    def deploy(host: Host) -> None:
        for batch, wait in order.batches(host, STEPS):
            if wait:
                wait()
            events.append((host.name, batch[0].name))
            if host.role == "jvb":
                bridge_began.set()
        if host.role == "core":
            assert bridge_began.wait(5)
        events.append((host.name, "done"))
        order.done(host)

    run_all([CORE, BRIDGE], deploy, parallel=2)
    assert events.index(("jvb1", "packages")) < events.index(("meet", "done"))
    assert events.index(("meet", "done")) < events.index(("jvb1", handlers.NAME))


def test_one_worker_deploys_the_core_first_and_no_bridge_waits_for_ever() -> None:
    """With the bridge listed first and one worker, the bridge would hold the only worker
    while waiting for a core that cannot start: cores_first puts the core ahead."""
    hosts = cores_first([BRIDGE, CORE])
    order = CoreFirst(hosts)
    finished: list[str] = []

    def deploy(host: Host) -> str:
        for _, wait in order.batches(host, STEPS):
            if wait:
                assert wait_briefly(wait), "the bridge waited for a core that never started"
        if host.role == "core":
            time.sleep(0.05)
        order.done(host)
        finished.append(host.name)
        return host.name

    assert run_all(hosts, deploy, parallel=1) == ["meet", "jvb1"]
    assert finished == ["meet", "jvb1"]


def wait_briefly(wait: object) -> bool:
    """Run ``wait`` in a thread for at most a second: whether it returned."""
    waiter = threading.Thread(target=wait, daemon=True)  # type: ignore[arg-type]
    waiter.start()
    waiter.join(1)
    return not waiter.is_alive()
