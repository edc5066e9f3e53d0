"""Item statistics: the streaming accumulators against direct formulas, and the job over HTTP."""

from __future__ import annotations

import asyncio
import random

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.scoring import item_dif
from service.scoring.statistics import (
    MIN_FORM_ATTEMPTS,
    ItemStatistics,
    _Dimension,
    _Moments,
    cronbach_alpha,
    localized,
    pearson,
)
from tests.delivery_setup import delivery_tenant


def _direct_alpha(rows):
    k = len(rows[0])

    def var(values):
        m = sum(values) / len(values)
        return sum((v - m) ** 2 for v in values) / (len(values) - 1)

    return k / (k - 1) * (1 - sum(var([r[j] for r in rows]) for j in range(k)) / var([sum(r) for r in rows]))


def test_alpha_and_alpha_if_deleted_match_the_textbook_formula():
    rng = random.Random(7)
    rows, dimension = [], _Dimension()
    for _ in range(150):
        ability = rng.random()
        row = [min(1.0, max(0.0, ability + rng.gauss(0, 0.25))) for _ in range(4)]
        rows.append(row)
        dimension.add({f"i{j}": v for j, v in enumerate(row)})
    reliability = dimension.reliability("D")
    assert reliability.alpha == pytest.approx(_direct_alpha(rows)) == pytest.approx(cronbach_alpha(rows))
    for j, deleted in enumerate(reliability.alpha_if_deleted):
        assert deleted.alpha == pytest.approx(
            _direct_alpha([[v for i, v in enumerate(r) if i != j] for r in rows])
        )


def test_pearson_and_degenerate_cases():
    # deviations x: -.5 .5 -.5 .5, y: -.3 .4 -.4 .3; sxy = .7, sxx = 1, syy = .5: r = .7 / sqrt(.5)
    assert pearson([0, 1, 0, 1], [0.2, 0.9, 0.1, 0.8]) == pytest.approx(0.7 / 0.5**0.5)
    assert pearson([1, 1, 1], [0.1, 0.5, 0.9]) is None  # no variance in the item
    assert cronbach_alpha([[1, 1], [1, 1]]) is None
    m = _Moments()
    m.add(1.0, 2.0)
    assert m.correlation() is None


async def test_the_statistics_job_over_http(client, service_keys, monkeypatch):
    """High scorers get T-SC-1 wrong, low scorers right: it is flagged with negative discrimination.
    DIF compares the categories and the units the attempts were counted in (groups of 2 here)."""
    monkeypatch.setattr(item_dif, "MIN_GROUP", 2)
    tenant = await delivery_tenant(client, service_keys, slug="stats-region", people=4)
    town = {"code": "town", "name": "Town", "parent_code": "prov"}
    assert (await client.post("/v1/org-units", json=town, headers=tenant["admin"])).status_code == 201
    rows = [
        {"external_id": "c1", "org_unit_code": "city", "category": "teacher"},
        {"external_id": "c2", "org_unit_code": "town", "category": "teacher"},
        {"external_id": "c3", "org_unit_code": "city", "category": "civil_servant"},
        {"external_id": "c4", "org_unit_code": "town", "category": "civil_servant"},
    ]
    bulk = await client.post("/v1/people/bulk", json={"people": rows}, headers=tenant["admin"])
    assert bulk.status_code == 200, bulk.text
    strong = {
        "T-MC-1": {"choices": ["a", "d"]},
        "T-SJT-BEST": {"choice": "d"},
        "T-LK-1": {"value": 1},
        "T-ORD-1": {"order": ["b", "d", "a", "c"]},
    }
    weak = {"T-MC-1": {"choices": ["b", "c"]}, "T-LK-1": {"value": 5}}
    plans = [
        ({"T-SC-1": {"choice": "b"}} | strong),
        ({"T-SC-1": {"choice": "a"}} | strong),
        ({"T-SC-1": {"choice": "c"}} | weak),
        {"T-SC-1": {"choice": "c"}},
    ]
    for me, plan in zip(tenant["candidates"], plans, strict=True):
        attempt = (await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=me)).json()[
            "attempt"
        ]["id"]
        await client.post(
            f"/v1/me/attempts/{attempt}/answers",
            headers=me,
            json={
                "answers": [{"item": ref, "revision": 1, "answer": answer} for ref, answer in plan.items()]
            },
        )
        await client.post(f"/v1/me/attempts/{attempt}/submit", headers=me)

    admin = tenant["admin"]
    assert (await client.get("/v1/assessments/quiz/item-statistics", headers=admin)).status_code == 404
    started = await client.post("/v1/assessments/quiz/item-statistics", headers=admin)
    assert started.status_code == 202 and started.json()["total"] == 4
    english = {**admin, "Accept-Language": "en"}
    for _ in range(100):
        run = (await client.get("/v1/assessments/quiz/item-statistics", headers=english)).json()
        if run["status"] != "running":
            break
        await asyncio.sleep(0.05)
    assert run["status"] == "done" and run["processed"] == 4
    items = {item["item"]: item for item in run["result"]["items"]}
    single = items["T-SC-1"]
    assert (single["n"], single["facility"], single["omission_rate"]) == (4, 0.5, 0.0)
    assert single["option_shares"] == {"a": 0.25, "b": 0.25, "c": 0.5}
    assert single["discrimination"] < 0 and single["flagged"]
    assert items["T-ORD-1"]["omission_rate"] == 0.5 and not items["T-ORD-1"]["flagged"]
    assert items["T-OR-1"]["omission_rate"] == 1.0 and items["T-OR-1"]["discrimination"] is None
    dimensions = {d["dimension"]: d for d in run["result"]["dimensions"]}
    assert set(dimensions) == {"AK", "HMC", "ES"} and dimensions["HMC"]["attempts"] == 4
    # four attempts are far below the 30 a form needs: no alpha, and the run says why
    for dimension in dimensions.values():
        assert dimension["alpha"] is None and dimension["forms"] == [] and dimension["alpha_if_deleted"] == []
        assert "at least 30 attempts" in dimension["reason"]
        assert dimension["attempts_below_minimum"] == 4
        assert dimension["reason_code"] == "no_form_at_minimum"
        assert dimension["reason_params"]["min_attempts"] == 30
    dif = run["result"]["dif"]
    assert dif["attempts"] == 4 and "T-SC-1" in dif["items"] and "T-MC-1" in dif["excluded_items"]
    assert sorted((c["variable"], c["focal"], c["focal_attempts"]) for c in dif["comparisons"]) == [
        ("category", "civil_servant", 2),
        ("category", "teacher", 2),
        ("org_unit", "city", 2),
        ("org_unit", "town", 2),
    ]
    assert all(len(c["items"]) == len(dif["items"]) for c in dif["comparisons"])
    # the likelihood-ratio test needs 200 attempts a side: each comparison says why it has none
    assert dif["lr_limits"]["min_group"] == 200 and dif["lr_flagged"] == []
    for comparison in dif["comparisons"]:
        assert comparison["lr_focal_attempts"] is None and all(i["lr"] is None for i in comparison["items"])
        assert "fewer than 200" in comparison["lr_reason"] or "same test" in comparison["lr_reason"]
        assert comparison["lr_reason_code"] in ("lr_small_group", "lr_same_test")
    await _dif_in_each_language_and_in_the_downloads(client, tenant, run)


async def _dif_in_each_language_and_in_the_downloads(client, tenant, run) -> None:
    """The reasons in the caller's language, from their codes; a run stored
    before the codes keeps its English; the CSV (BOM) and XLSX downloads carry DIF per comparison."""
    import io
    from uuid import UUID

    import openpyxl

    from service.db.pool import tenant_transaction

    admin = {**tenant["admin"], "Accept-Language": "zh-CN"}  # the test client asks for English by default
    english = {c["focal"] + c["variable"]: c["lr_reason"] for c in run["result"]["dif"]["comparisons"]}
    chinese = await client.get("/v1/assessments/quiz/item-statistics", headers=admin)
    assert chinese.headers["content-language"] == "zh-CN" and "Accept-Language" in chinese.headers["vary"]
    comparisons = chinese.json()["result"]["dif"]["comparisons"]
    english_alpha = {d["dimension"]: d["reason"] for d in run["result"]["dimensions"]}
    for dimension in chinese.json()["result"]["dimensions"]:  # alpha's reason too, from its code
        assert dimension["reason"].startswith("该维度没有哪套试卷的作答达到 30 次"), dimension["reason"]
        assert dimension["reason_code"] == "no_form_at_minimum"
    for comparison in comparisons:
        reason = comparison["lr_reason"]
        assert reason in ("本组或其余人员的作答少于 200 次", "与“civil_servant 对其余人员”是同一检验") or (
            reason.startswith("与“") and reason.endswith("对其余人员”是同一检验")
        ), reason
        assert reason != english[comparison["focal"] + comparison["variable"]]

    # The CSV: a byte order mark, one row per item, three columns per comparison.
    csv = await client.get(
        "/v1/assessments/quiz/item-statistics.csv", headers={**admin, "Accept-Language": "en"}
    )
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.content.startswith(b"\xef\xbb\xbf") and csv.headers["content-language"] == "en"
    lines = csv.content.decode("utf-8-sig").splitlines()
    header = lines[0].split(",")
    assert header[:9] == [
        "item",
        "type",
        "n",
        "facility",
        "discrimination",
        "omission_rate",
        "flagged",
        "option_shares",
        "alpha_if_deleted",
    ]
    for comparison in run["result"]["dif"]["comparisons"]:
        name = f"{comparison['variable']}:{comparison['focal']}"
        assert header[header.index(f"mh_class:{name}") + 1 : header.index(f"mh_class:{name}") + 3] == [
            f"mh_d:{name}",
            f"lr:{name}",
        ]
    assert len(lines) == 1 + len(run["result"]["items"])
    studied = next(line for line in lines[1:] if line.startswith("T-SC-1,"))
    assert "not tested: fewer than 200 attempts in the group or the rest" in studied
    zh = await client.get("/v1/assessments/quiz/item-statistics.csv", headers=admin)
    assert "未检验：本组或其余人员的作答少于 200 次" in zh.content.decode("utf-8-sig")
    plain = await client.get("/v1/assessments/quiz/item-statistics.csv?bom=false", headers=admin)
    assert not plain.content.startswith(b"\xef\xbb\xbf")

    workbook = await client.get("/v1/assessments/quiz/item-statistics.xlsx", headers=admin)
    assert workbook.status_code == 200 and workbook.headers["content-language"] == "zh-CN"
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.content), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    codes = next(row for row in rows if row and row[0] == "item")
    assert list(codes) == header
    assert any("未检验：" in str(cell) for row in rows for cell in row if cell)

    # A run stored before reasons had codes: its English text, in any language.
    pool = client._transport.app.state.runtime.pool
    async with tenant_transaction(pool, UUID(tenant["id"])) as conn:
        await conn.execute(
            """UPDATE statistics_runs SET result = jsonb_set(result, '{dif,comparisons}', (
                 SELECT jsonb_agg(c - 'lr_reason_code' - 'lr_reason_params') FROM jsonb_array_elements(
                   result->'dif'->'comparisons') c))"""
        )
        await conn.execute(
            """UPDATE statistics_runs SET result = jsonb_set(result, '{dimensions}', (
                 SELECT jsonb_agg(d - 'reason_code' - 'reason_params') FROM jsonb_array_elements(
                   result->'dimensions') d))"""
        )
    old = (await client.get("/v1/assessments/quiz/item-statistics", headers=admin)).json()
    assert {
        c["focal"] + c["variable"]: c["lr_reason"] for c in old["result"]["dif"]["comparisons"]
    } == english
    assert all(c["lr_reason_code"] is None for c in old["result"]["dif"]["comparisons"])
    assert {d["dimension"]: d["reason"] for d in old["result"]["dimensions"]} == english_alpha
    assert all(d["reason_code"] is None for d in old["result"]["dimensions"])


# --- alpha per form (forms drawn from pools) -----------------------------------------------------------


def _rows(rng: random.Random, n: int, k: int) -> list[list[float]]:
    rows = []
    for _ in range(n):
        ability = rng.random()
        rows.append([min(1.0, max(0.0, ability + rng.gauss(0, 0.25))) for _ in range(k)])
    return rows


def test_alpha_is_reported_per_form_that_30_attempts_took():
    """A pool of six items, four drawn per attempt: form A (i0-i3) 40 attempts, B (i2-i5) 30 (exactly the
    minimum), C 29 and D 5. A and B each get their own alpha and alpha-if-deleted over their own attempts;
    C and D are only counted. Before, alpha came from the most common form alone (A), with no n per form."""
    rng = random.Random(11)
    plan = {
        ("i0", "i1", "i2", "i3"): 40,
        ("i2", "i3", "i4", "i5"): 30,
        ("i0", "i1", "i4", "i5"): 29,
        ("i0", "i2", "i4", "i5"): 5,
    }
    dimension = _Dimension()
    rows_of: dict[tuple[str, ...], list[list[float]]] = {}
    for form, n in plan.items():
        rows_of[form] = _rows(rng, n, len(form))
    for i in range(40):  # interleaved, as attempts arrive
        for form, rows in rows_of.items():
            if i < len(rows):
                dimension.add(dict(zip(form, rows[i], strict=True)))
    reliability = dimension.reliability("D")
    assert MIN_FORM_ATTEMPTS == 30
    assert [(f.items, f.attempts) for f in reliability.forms] == [
        (["i0", "i1", "i2", "i3"], 40),
        (["i2", "i3", "i4", "i5"], 30),
    ]
    for form in reliability.forms:
        rows = rows_of[tuple(form.items)]
        assert form.alpha == pytest.approx(_direct_alpha(rows)) and form.reason is None
        assert [d.item for d in form.alpha_if_deleted] == form.items
        for j, deleted in enumerate(form.alpha_if_deleted):
            assert deleted.alpha == pytest.approx(
                _direct_alpha([[v for i, v in enumerate(r) if i != j] for r in rows])
            )
    assert (reliability.forms_below_minimum, reliability.attempts_below_minimum) == (2, 34)
    # the top-level fields keep their meaning: the most-taken form
    first = reliability.forms[0]
    assert (
        reliability.items,
        reliability.attempts,
        reliability.alpha,
        reliability.alpha_if_deleted,
        reliability.reason,
    ) == (4, 40, first.alpha, first.alpha_if_deleted, None)


def test_alpha_is_null_with_a_reason_when_no_form_reaches_30():
    rng = random.Random(5)
    dimension = _Dimension()
    for row in _rows(rng, 29, 3):
        dimension.add({"a": row[0], "b": row[1], "c": row[2]})
    for row in _rows(rng, 12, 2):
        dimension.add({"a": row[0], "d": row[1]})
    reliability = dimension.reliability("D")
    assert (reliability.alpha, reliability.alpha_if_deleted, reliability.forms) == (None, [], [])
    assert (reliability.items, reliability.attempts) == (3, 29)  # the most-taken form, as before
    assert (reliability.forms_below_minimum, reliability.attempts_below_minimum) == (2, 41)
    assert reliability.reason is not None and "at least 30 attempts" in reliability.reason
    assert "29 of 41 attempts, 2 forms" in reliability.reason


def test_a_form_without_two_items_or_variance_has_a_reason():
    single, flat = _Dimension(), _Dimension()
    for n in range(30):
        single.add({"a": n / 30})
        flat.add({"a": 1.0, "b": 0.0})
    for dimension, why in ((single, "fewer than 2"), (flat, "does not vary")):
        reliability = dimension.reliability("D")
        assert reliability.alpha is None and len(reliability.forms) == 1
        assert why in reliability.forms[0].reason and reliability.reason == reliability.forms[0].reason


def test_alphas_reasons_are_codes_rendered_in_the_readers_language():
    """Each null alpha's reason is a code with its parameters beside the English text; `localized`
    renders it from the catalog; a reason stored before the codes (text alone) stays as stored."""
    few, single, flat = _Dimension(), _Dimension(), _Dimension()
    for n in range(30):
        single.add({"a": n / 30})
        flat.add({"a": 1.0, "b": 0.0})
    for n in range(12):
        few.add({"a": n / 12, "b": 1 - n / 12})
    statistics = ItemStatistics(
        42, [], [few.reliability("F"), single.reliability("S"), flat.reliability("V")]
    )
    codes = [(d.reason_code, d.reason_params) for d in statistics.dimensions]
    assert codes == [
        ("no_form_at_minimum", {"min_attempts": 30, "most": 12, "attempts": 12, "forms": 1}),
        ("too_few_items", {}),
        ("constant_total", {}),
    ]
    assert [(f.reason_code, f.reason) for d in statistics.dimensions for f in d.forms] == [
        ("too_few_items", "the form has fewer than 2 of the dimension's items"),
        ("constant_total", "the total score does not vary on this form"),
    ]
    assert localized(statistics, "en") == statistics  # the English text is the stored text
    chinese = localized(statistics, "zh-CN")
    assert [d.reason for d in chinese.dimensions] == [
        "该维度没有哪套试卷的作答达到 30 次（作答最多的一套：12 次中的 12 次，共 1 套）",
        "该试卷中属于本维度的题目少于 2 道",
        "该试卷上的总分没有差异",
    ]
    assert [f.reason for d in chinese.dimensions for f in d.forms] == [
        "该试卷中属于本维度的题目少于 2 道",
        "该试卷上的总分没有差异",
    ]
    # a run stored before the codes: its English text, in any language
    old = msgspec.convert(
        {
            "attempts": 42,
            "items": [],
            "dimensions": [
                {
                    "dimension": "F",
                    "items": 2,
                    "attempts": 12,
                    "alpha": None,
                    "alpha_if_deleted": [],
                    "reason": "as stored",
                }
            ],
        },
        ItemStatistics,
    )
    assert localized(old, "zh-CN").dimensions[0].reason == "as stored"


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sets(st.sampled_from("abcde"), min_size=1), st.integers(1, 45)), min_size=1, max_size=6
    ),
    st.randoms(use_true_random=False),
)
def test_every_form_reaching_the_minimum_is_reported_with_its_own_alpha(plan, rnd):
    forms: dict[frozenset[str], int] = {}
    for items, n in plan:
        forms[frozenset(items)] = forms.get(frozenset(items), 0) + n
    dimension, rows_of = _Dimension(), {}
    for form, n in forms.items():
        codes = sorted(form)
        rows_of[form] = [[round(rnd.random(), 3) for _ in codes] for _ in range(n)]
        for row in rows_of[form]:
            dimension.add(dict(zip(codes, row, strict=True)))
    reliability = dimension.reliability("D")
    expected = {form for form, n in forms.items() if n >= MIN_FORM_ATTEMPTS}
    assert {frozenset(f.items) for f in reliability.forms} == expected
    assert [f.attempts for f in reliability.forms] == sorted(
        (f.attempts for f in reliability.forms), reverse=True
    )
    assert sum(f.attempts for f in reliability.forms) + reliability.attempts_below_minimum == sum(
        forms.values()
    )
    assert reliability.forms_below_minimum == len(forms) - len(expected)
    for form in reliability.forms:
        direct = cronbach_alpha(rows_of[frozenset(form.items)])
        assert (form.alpha is None) == (direct is None) and (form.reason is None) == (direct is not None)
        if direct is not None:
            assert form.alpha == pytest.approx(direct, abs=1e-9)
    assert (reliability.alpha is None) == (not reliability.forms or reliability.forms[0].alpha is None)
    assert (reliability.alpha is None) == (reliability.reason is not None)


def test_the_accumulator_reports_alpha_per_pool_form_from_score_documents():
    """End to end through the engine: a dimension whose items come from a pool (two of three Likert items per
    attempt). Forms {a, b} (45 attempts) and {b, c} (30) are reported with their n; {a, c} (12) is counted."""
    from service.items.views import Answer
    from service.scoring.engine import ScoredItem, ScoringInput, score
    from service.scoring.statistics import StatisticsAccumulator
    from tests.unit.test_scoring_engine import TINY, TINY_HASH, make_item

    pool = {
        code: make_item("likert", f"LK-{code}", loadings=[("D1.a", 1.0)], scale_points=5) for code in "abc"
    }
    rng = random.Random(3)
    accumulator = StatisticsAccumulator()
    for form, n in (("ab", 45), ("bc", 30), ("ac", 12)):
        for _ in range(n):
            ability = rng.randint(1, 5)
            answers = {
                f"LK-{c}": Answer(value=min(5, max(1, ability + rng.choice((-1, 0, 0, 1))))) for c in form
            }
            document = score(ScoringInput(TINY, TINY_HASH, [ScoredItem(1, pool[c]) for c in form], answers))
            accumulator.add(document, answers)
    (dimension,) = accumulator.result().dimensions
    assert dimension.dimension == "D1"
    assert [(f.items, f.attempts) for f in dimension.forms] == [
        (["LK-a", "LK-b"], 45),
        (["LK-b", "LK-c"], 30),
    ]
    assert (dimension.forms_below_minimum, dimension.attempts_below_minimum) == (1, 12)
    assert all(
        f.alpha is not None and f.alpha_if_deleted == [] for f in dimension.forms
    )  # 2 items: none deleted
    assert (dimension.items, dimension.attempts, dimension.alpha) == (2, 45, dimension.forms[0].alpha)
