"""Column names of the spreadsheet exports in the reader's language (zh-CN or en). Pure.

The codes stay the CSV header's; these are the human-readable row above them in an XLSX sheet.
Dimension and level names come from the framework itself (`Localized` texts), unit names from
the org tree.
"""

from __future__ import annotations

from service.rubrics.localize import choose, preferences

LANGUAGES = ["zh-CN", "en"]

_FIXED: dict[str, dict[str, str]] = {
    "person": {"zh-CN": "人员编号", "en": "Person"},
    "assessment": {"zh-CN": "测评", "en": "Assessment"},
    "attempt_id": {"zh-CN": "作答编号", "en": "Attempt id"},
    "attempt_number": {"zh-CN": "作答次序", "en": "Attempt number"},
    "score_version": {"zh-CN": "评分版本", "en": "Score version"},
    "status": {"zh-CN": "状态", "en": "Status"},
    "current": {"zh-CN": "当前有效", "en": "Current"},
    "counted": {"zh-CN": "计入统计", "en": "Counted"},
    "framework": {"zh-CN": "框架", "en": "Framework"},
    "framework_version": {"zh-CN": "框架版本", "en": "Framework version"},
    "overall_scaled": {"zh-CN": "总分", "en": "Overall score"},
    "overall_level": {"zh-CN": "总体等级", "en": "Overall level"},
    "org_unit": {"zh-CN": "单位代码", "en": "Org unit code"},
    "org_unit_name": {"zh-CN": "单位名称", "en": "Org unit"},
    "category": {"zh-CN": "人员类别", "en": "Category"},
    "submitted_at": {"zh-CN": "提交时间", "en": "Submitted at"},
    "scored_at": {"zh-CN": "评分时间", "en": "Scored at"},
    "unit": {"zh-CN": "单位代码", "en": "Unit code"},
    "unit_name": {"zh-CN": "单位名称", "en": "Unit"},
    "scope": {"zh-CN": "范围", "en": "Scope"},
    "period_start": {"zh-CN": "期间起始", "en": "Period start"},
    "suppressed": {"zh-CN": "因隐私保护不显示", "en": "Withheld (privacy)"},
    "measure": {"zh-CN": "维度代码", "en": "Measure code"},
    "measure_name": {"zh-CN": "维度", "en": "Measure"},
    "n": {"zh-CN": "人数", "en": "n"},
    "mean": {"zh-CN": "平均分", "en": "Mean"},
    "sd": {"zh-CN": "标准差", "en": "SD"},
    "p10": {"zh-CN": "第10百分位", "en": "P10"},
    "p25": {"zh-CN": "第25百分位", "en": "P25"},
    "p50": {"zh-CN": "中位数", "en": "Median"},
    "p75": {"zh-CN": "第75百分位", "en": "P75"},
    "p90": {"zh-CN": "第90百分位", "en": "P90"},
    "before": {"zh-CN": "前测", "en": "Before"},
    "after": {"zh-CN": "后测", "en": "After"},
    "mean_before": {"zh-CN": "前测平均分", "en": "Mean before"},
    "mean_after": {"zh-CN": "后测平均分", "en": "Mean after"},
    "mean_gain": {"zh-CN": "平均提升", "en": "Mean gain"},
    "sd_gain": {"zh-CN": "提升标准差", "en": "SD of gain"},
    "ci95_low": {"zh-CN": "95%置信区间下限", "en": "95% CI low"},
    "ci95_high": {"zh-CN": "95%置信区间上限", "en": "95% CI high"},
    "d_z": {"zh-CN": "效应量 d_z", "en": "Effect size d_z"},
    "d_av": {"zh-CN": "效应量 d_av", "en": "Effect size d_av"},
}
_OVERALL = {"zh-CN": "总体", "en": "Overall"}
_SCALED = {"zh-CN": "得分", "en": "score"}
_LEVEL = {"zh-CN": "等级", "en": "level"}
_LEVEL_COUNT = {"zh-CN": "人数：{}", "en": "n at {}"}


def language(accept_language: str | None) -> str:
    """zh-CN or en, as `Accept-Language` prefers (zh-CN when it says nothing usable)."""
    return choose(LANGUAGES, preferences(accept_language))


def pick(text: dict[str, str] | str | None, lang: str) -> str | None:
    """One language of a framework's `Localized` text."""
    if text is None or isinstance(text, str):
        return text
    return text[choose(list(text), [lang])] if text else None


class Labeller:
    """Names for column codes and measures, given the framework's dimension and level names."""

    def __init__(self, lang: str, dimensions: dict[str, dict[str, str]], levels: dict[str, dict[str, str]]) -> None:
        self.lang = lang
        self.dimensions = {code: pick(name, lang) or code for code, name in dimensions.items()}
        self.levels = {code: pick(name, lang) or code for code, name in levels.items()}

    def measure(self, code: str | None) -> str | None:
        if code is None:
            return None
        return _OVERALL[self.lang] if code == "overall" else self.dimensions.get(code, code)

    def column(self, code: str) -> str:
        if code in _FIXED:
            return _FIXED[code][self.lang]
        if code.startswith("level_") and code[6:] in self.levels:
            return _LEVEL_COUNT[self.lang].format(self.levels[code[6:]])
        for suffix, word in (("_scaled", _SCALED), ("_level", _LEVEL)):
            if code.endswith(suffix) and code[: -len(suffix)] in self.dimensions:
                return f"{self.dimensions[code[: -len(suffix)]]} {word[self.lang]}"
        return code

    def columns(self, codes: list[str]) -> list[str]:
        return [self.column(code) for code in codes]
