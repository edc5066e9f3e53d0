"""The kinds of job: how each runs and how its own row records a failure. The one module that
knows them all (the runner looks kinds up here; the kinds' modules know only `Job`). A rescoring
commit stores its batches through the score pipeline, handed to it here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from uuid import UUID

import asyncpg
import msgspec

from service import pipeline
from service.aggregates import paired, rebuild
from service.jobqueue.job import Job
from service.results import calibrations, exports, item_stats, rescoring


class Kind(msgspec.Struct, frozen=True):
    run: Callable[[Job], Awaitable[None]]
    failed: Callable[[asyncpg.Connection, UUID, str], Awaitable[None]]  # in the tenant's transaction


KINDS: dict[str, Kind] = {
    "rescoring": Kind(partial(rescoring.run, store=pipeline.store), rescoring.mark_failed),
    "rescoring_batch": Kind(partial(rescoring.run_batch, store=pipeline.store), rescoring.mark_batch_failed),
    "item_statistics": Kind(item_stats.run, item_stats.mark_failed),
    "aggregates": Kind(rebuild.run, rebuild.mark_failed),
    "score_export": Kind(exports.run, exports.mark_failed),
    "calibration": Kind(calibrations.run, calibrations.mark_failed),
    "training_effect": Kind(paired.run, paired.mark_failed),
}
