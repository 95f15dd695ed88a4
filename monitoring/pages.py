"""What each monitoring chart shows: its SVG and the rows of its table and CSV, from the selectors.

One function per chart keeps the chart, its accessible table and its CSV
download on the same numbers: the table and the CSV are built from the same
rows the chart is drawn from.
"""

from __future__ import annotations

from typing import Any

from monitoring import charts, selectors
from scoring import drift
from scoring.results import DECISIONS

DECISION_CSS = {"APPROVE": "chart-approve", "REVIEW": "chart-review", "DECLINE": "chart-decline"}


def _rate(value: float | None) -> float | str:
    return "" if value is None else round(value, 6)


def daily(*, days: int | None = selectors.DAYS_SHOWN) -> dict[str, Any]:
    rows = selectors.daily_series(days=days)
    labels = [row["day"].strftime("%d %b") for row in rows]
    svg = charts.bar_chart(
        slug="daily",
        title="Applications decided per day",
        description=f"Bars: decisions per day over the last {len(rows)} days with data. The table below lists them.",
        labels=labels,
        series=[charts.Series("Decisions", [row["decisions"] for row in rows], "chart-s1")],
    )
    header = ["day", "decisions", "approve", "review", "decline", "overridden", "override_rate", "outside_experience"]
    csv = [header] + [
        [
            row["day"],
            row["decisions"],
            row["approve"],
            row["review"],
            row["decline"],
            row["overridden"],
            _rate(row["overridden_share"]),
            row["outside_experience"],
        ]
        for row in rows
    ]
    return {"svg": svg, "rows": rows, "csv": csv}


def weekly(*, weeks: int | None = selectors.WEEKS_SHOWN) -> dict[str, Any]:
    rows = selectors.weekly_series(weeks=weeks)
    labels = [row["week"].strftime("%d %b") for row in rows]
    volume = charts.bar_chart(
        slug="weekly",
        title="Applications decided per week",
        description="Bars: decisions per week (Monday to Sunday). The table below lists them.",
        labels=labels,
        series=[charts.Series("Decisions", [row["decisions"] for row in rows], "chart-s1")],
    )
    mix = charts.bar_chart(
        slug="mix",
        title="Decision mix per week",
        description="Stacked bars: share of approve, review and decline decisions (the model's) in each week.",
        labels=labels,
        series=[
            charts.Series(decision.title(), [row[f"{decision.lower()}_share"] for row in rows], DECISION_CSS[decision])
            for decision in DECISIONS
        ],
        stacked=True,
        y_max=1.0,
        y_format=charts.percent,
    )
    overrides = charts.line_chart(
        slug="overrides",
        title="Override rate per week",
        description="Line: share of each week's decisions whose decision in force differs from the model's.",
        labels=labels,
        series=[charts.Series("Overridden", [row["overridden_share"] for row in rows], "chart-s2")],
        y_format=lambda v: f"{v * 100:.1f}%",
    )
    header = [
        "week_starting",
        "decisions",
        "approve_share",
        "review_share",
        "decline_share",
        "overridden",
        "override_rate",
    ]
    csv = [header] + [
        [
            row["week"],
            row["decisions"],
            _rate(row["approve_share"]),
            _rate(row["review_share"]),
            _rate(row["decline_share"]),
            row["overridden"],
            _rate(row["overridden_share"]),
        ]
        for row in rows
    ]
    return {"volume_svg": volume, "mix_svg": mix, "overrides_svg": overrides, "rows": rows, "csv": csv}


def probability(version: str | None) -> dict[str, Any]:
    data = selectors.probability_distribution(version)
    rows = data["rows"]
    series = [charts.Series("Decisions", [row["share"] for row in rows], "chart-s1")]
    if not data["problem"]:
        series.append(charts.Series("Training data", [row["training_share"] for row in rows], "chart-s3"))
    svg = charts.bar_chart(
        slug="probability",
        title=f"Probability of default of model {version}: decisions against the training data",
        description="Paired bars: share of decisions and of training rows in each 5-point band of probability.",
        labels=[row["label"] for row in rows],
        series=series,
        y_format=charts.percent,
    )
    header = ["probability_band", "decisions", "share", "training_share"]
    csv = [header] + [[row["label"], row["count"], _rate(row["share"]), _rate(row["training_share"])] for row in rows]
    return {"svg": svg, **data, "csv": csv}


def drift_page(version: str | None) -> dict[str, Any]:
    table = selectors.drift_table(version)
    latest = [(feature["label"], feature["cells"][-1]) for feature in table["features"] if feature["cells"]]
    svg = charts.bar_chart(
        slug="drift",
        title=f"Population stability of model {version}'s inputs in the latest month",
        description="Bars: PSI of each input and of the probability of default in the latest month against the "
        "training data; lines at 0.1 (watch) and 0.25 (act).",
        labels=[label for label, _ in latest],
        series=[charts.Series("PSI", [cell["psi"] for _, cell in latest], "chart-s1")],
        y_max=max([0.3, *[(cell["psi"] or 0) * 1.1 for _, cell in latest]]),
        y_format=lambda v: f"{v:.2f}",
        lines=[charts.Line(drift.WATCH_FROM, "watch 0.1"), charts.Line(drift.ACT_ABOVE, "act 0.25", "chart-ref-act")],
    )
    header = ["model_version", "feature", "month", "decisions", "psi", "band"]
    csv = [header] + [
        [
            version,
            feature["feature"],
            cell["month"].strftime("%Y-%m"),
            cell["n"],
            _rate(cell["psi"]),
            cell["band"] or "",
        ]
        for feature in table["features"]
        for cell in feature["cells"]
    ]
    return {"svg": svg if latest else None, **table, "csv": csv}


def backtest(version: str | None) -> dict[str, Any]:
    data = selectors.backtest(version)
    result = data["result"]
    svg = None
    if result and result["enough"]:
        svg = charts.calibration_chart(
            slug="calibration",
            title=f"Calibration of model {version}: realised default rate against predicted, per decile",
            description="Points: for each tenth of the loans with an outcome, ordered by predicted probability, the "
            "mean predicted probability (across) and the share that defaulted (up). The diagonal is perfect calibration.",
            points=[(cell["predicted"], cell["realised"]) for cell in result["deciles"]],
            series_name="Deciles",
        )
    header = [
        "model_version",
        "group",
        "label",
        "loans",
        "defaults",
        "mean_predicted",
        "realised_default_rate",
        "from",
        "to",
    ]
    csv = [header]
    if result:
        for kind in ("bands", "deciles"):
            for cell in result[kind]:
                csv.append(
                    [
                        version,
                        "decision band" if kind == "bands" else "probability decile",
                        cell["label"],
                        cell["n"],
                        cell["defaults"],
                        _rate(cell["predicted"]),
                        _rate(cell["realised"]),
                        _rate(cell.get("from")),
                        _rate(cell.get("to")),
                    ]
                )
    return {"svg": svg, **data, "csv": csv}


def fairness(version: str | None) -> dict[str, Any]:
    tables = selectors.fairness(version)
    for table in tables:
        rates = [row["approval_rate"] for row in table["rows"]]
        best = max([rate for rate in rates if rate is not None] or [0])
        table["svg"] = charts.bar_chart(
            slug=f"fairness-{table['attribute']}",
            title=f"Approval rate by {table['label'].lower()}",
            description="Bars: share of each group's applications the model approved; the line is four fifths of the "
            "highest rate: a group below it is flagged (adverse impact ratio under 0.8).",
            labels=[row["group"] for row in table["rows"]],
            series=[charts.Series("Approval rate", rates, "chart-s1")],
            y_max=1.0,
            y_format=charts.percent,
            lines=[charts.Line(best * selectors.ADVERSE_IMPACT_FLAG, "4/5 of the highest", "chart-ref-act")]
            if best
            else [],
        )
    header = [
        "attribute",
        "group",
        "decisions",
        "approval_rate",
        "adverse_impact_ratio",
        "flagged_below_0_8",
        "final_approval_rate",
        "final_adverse_impact_ratio",
        "mean_probability_of_default",
        "outcomes",
        "realised_default_rate",
    ]
    csv = [header] + [
        [
            table["attribute"],
            row["group"],
            row["decisions"],
            _rate(row["approval_rate"]),
            _rate(row["air"]),
            "yes" if row["air_flag"] else "no",
            _rate(row["final_approval_rate"]),
            _rate(row["final_air"]),
            _rate(row["mean_probability"]),
            row["outcomes"],
            _rate(row["realised_default_rate"]),
        ]
        for table in tables
        for row in table["rows"]
    ]
    return {"tables": tables, "csv": csv}
