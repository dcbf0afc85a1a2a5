"""Let `fab -H a,b TASK` hand all hosts to one call, so the task can converge them in parallel.

Fabric runs a task once per -H host, one after another. Tasks marked ``whole_group`` get one
call instead, with the -H list in their ``targets`` argument. fabric.yaml selects this executor.
"""

from __future__ import annotations

from fabric.executor import Executor
from invoke import Call, Task


def whole_group(task: Task) -> Task:
    task.whole_group = True
    return task


class GroupExecutor(Executor):
    def expand_calls(self, calls: list[Call | Task], apply_hosts: bool = True) -> list[Call]:
        host_list = self.core[0].args.hosts.value if apply_hosts else ""
        grouped, per_host = [], []
        for call in calls:
            task = call.task if isinstance(call, Call) else call
            if getattr(task, "whole_group", False):
                call = call if isinstance(call, Call) else Call(task=task)
                grouped.append(call.clone(with_={"kwargs": {**call.kwargs, "targets": host_list}}))
            else:
                per_host.append(call)
        return grouped + (super().expand_calls(per_host, apply_hosts) if per_host else [])
