"""The kinds of job: how each runs and how its own row records a failure. The one module that
knows them all (the runner looks kinds up here; the kinds' modules know only `Job`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from uuid import UUID

import asyncpg
import msgspec

from service.aggregates import rebuild
from service.jobs.job import Job
from service.results import calibrations, exports, item_stats, rescoring


class Kind(msgspec.Struct, frozen=True):
    run: Callable[[Job], Awaitable[None]]
    failed: Callable[[asyncpg.Connection, UUID, str], Awaitable[None]]  # in the tenant's transaction


KINDS: dict[str, Kind] = {
    "rescoring": Kind(rescoring.run, rescoring.mark_failed),
    "item_statistics": Kind(item_stats.run, item_stats.mark_failed),
    "aggregates": Kind(rebuild.run, rebuild.mark_failed),
    "score_export": Kind(exports.run, exports.mark_failed),
    "calibration": Kind(calibrations.run, calibrations.mark_failed),
}
