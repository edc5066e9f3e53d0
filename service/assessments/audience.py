"""Who an assessment is for, and whether it is open. Pure: no I/O."""

from __future__ import annotations

from datetime import datetime

from service.assessments.model import Audience, Window


def includes(audience: Audience, external_id: str, category: str, unit_and_ancestors: set[str]) -> bool:
    """Named people always; otherwise the unit and category filters that are given must both match."""
    if external_id in audience.people:
        return True
    if not audience.org_units and not audience.categories:
        return False
    in_units = not audience.org_units or not unit_and_ancestors.isdisjoint(audience.org_units)
    in_categories = not audience.categories or category in audience.categories
    return in_units and in_categories


def window_state(window: Window, now: datetime) -> str:
    """'upcoming', 'open' or 'closed'."""
    if window.opens_at is not None and now < window.opens_at:
        return "upcoming"
    if window.closes_at is not None and now >= window.closes_at:
        return "closed"
    return "open"
