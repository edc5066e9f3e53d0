"""Column names of the spreadsheet exports in the reader's language (zh-CN or en), from the message catalog.

The codes stay the CSV header's; these are the human-readable row above them in an XLSX sheet.
Dimension and level names come from the framework itself (`Localized` texts), unit names from
the org tree.
"""

from __future__ import annotations

from service.i18n import Message, msg, negotiate, render
from service.rubrics.localize import choose

_FIXED: dict[str, Message] = {
    "person": msg("Person"),
    "assessment": msg("Assessment"),
    "attempt_id": msg("Attempt id"),
    "attempt_number": msg("Attempt number"),
    "score_version": msg("Score version"),
    "status": msg("Status"),
    "current": msg("Current"),
    "counted": msg("Counted"),
    "framework": msg("Framework"),
    "framework_version": msg("Framework version"),
    "overall_scaled": msg("Overall score"),
    "overall_level": msg("Overall level"),
    "org_unit": msg("Org unit code"),
    "org_unit_name": msg("Org unit"),
    "category": msg("Category"),
    "submitted_at": msg("Submitted at"),
    "scored_at": msg("Scored at"),
    "unit": msg("Unit code"),
    "unit_name": msg("Unit"),
    "scope": msg("Scope"),
    "period_start": msg("Period start"),
    "suppressed": msg("Withheld (privacy)"),
    "measure": msg("Measure code"),
    "measure_name": msg("Measure"),
    "n": msg("n"),
    "mean": msg("Mean"),
    "sd": msg("SD"),
    "p10": msg("P10"),
    "p25": msg("P25"),
    "p50": msg("Median"),
    "p75": msg("P75"),
    "p90": msg("P90"),
    "before": msg("Before"),
    "after": msg("After"),
    "mean_before": msg("Mean before"),
    "mean_after": msg("Mean after"),
    "mean_gain": msg("Mean gain"),
    "sd_gain": msg("SD of gain"),
    "ci95_low": msg("95% CI low"),
    "ci95_high": msg("95% CI high"),
    "d_z": msg("Effect size d_z"),
    "d_av": msg("Effect size d_av"),
    "item": msg("Item"),
    "type": msg("Item type"),
    "facility": msg("Facility"),
    "discrimination": msg("Discrimination"),
    "omission_rate": msg("Omission rate"),
    "flagged": msg("Flagged"),
    "option_shares": msg("Option shares"),
    "alpha_if_deleted": msg("Alpha if deleted"),
}


def language(accept_language: str | None) -> str:
    """zh-CN or en, as `Accept-Language` prefers (zh-CN when it says nothing usable)."""
    return negotiate(accept_language)


def pick(text: dict[str, str] | str | None, lang: str) -> str | None:
    """One language of a framework's `Localized` text."""
    if text is None or isinstance(text, str):
        return text
    return text[choose(list(text), [lang])] if text else None


class Labeller:
    """Names for column codes and measures, given the framework's dimension and level names."""

    def __init__(
        self, lang: str, dimensions: dict[str, dict[str, str]], levels: dict[str, dict[str, str]]
    ) -> None:
        self.lang = lang
        self.dimensions = {code: pick(name, lang) or code for code, name in dimensions.items()}
        self.levels = {code: pick(name, lang) or code for code, name in levels.items()}

    def measure(self, code: str | None) -> str | None:
        if code is None:
            return None
        return render(msg("Overall"), self.lang) if code == "overall" else self.dimensions.get(code, code)

    def column(self, code: str) -> str:
        if code in _FIXED:
            return render(_FIXED[code], self.lang)
        if code.startswith("level_") and code[6:] in self.levels:
            return render(msg("n at {level}", level=self.levels[code[6:]]), self.lang)
        dimension = code.removesuffix("_scaled").removesuffix("_level")
        if dimension != code and dimension in self.dimensions:
            label = (
                msg("{dimension} score", dimension=self.dimensions[dimension])
                if code.endswith("_scaled")
                else msg("{dimension} level", dimension=self.dimensions[dimension])
            )
            return render(label, self.lang)
        return code

    def columns(self, codes: list[str]) -> list[str]:
        return [self.column(code) for code in codes]
