"""The PII detectors as a Great Expectations (GX Core 1.x) expectation, for teams' own suites.

`ExpectColumnValuesToNotContainPii(column=..., detector="email")` runs the same prefilter and
validator as every other scan. Results are requested with counts only: GX's SUMMARY/COMPLETE
formats copy unexpected values into the result (GX issue #8780), which would put personal data
into validation results, logs and data docs.
"""

from __future__ import annotations

from typing import ClassVar

import pandas as pd
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics.map_metric_provider import ColumnMapMetricProvider, column_condition_partial

from dataflow_governance.detection.detectors import BY_NAME, DETECTOR_NAMES, matches

# Counts without values: BASIC with no partial list; anything value-bearing is stripped anyway.
SAFE_RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0, "include_unexpected_rows": False}
_VALUE_BEARING = ("partial_unexpected_list", "partial_unexpected_index_list", "partial_unexpected_counts",
                  "unexpected_list", "unexpected_index_list", "unexpected_rows", "unexpected_index_query")


class ColumnValuesNotContainPii(ColumnMapMetricProvider):
    condition_metric_name = "column_values.dfg_not_contain_pii"
    condition_value_keys = ("detector",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, detector, **kwargs):
        found = BY_NAME[detector]
        return column.map(lambda value: value is None or (isinstance(value, float) and pd.isna(value))
                          or next(matches(found, str(value)), None) is None)


class ExpectColumnValuesToNotContainPii(ColumnMapExpectation):
    """Expect no value of the column to hold personal data of the given kind (email, phone, ssn,
    credit_card, ip_address, iban, track_data; person_name, postal_address, date_of_birth in free
    text), free text included."""

    detector: str
    map_metric: ClassVar[str] = "column_values.dfg_not_contain_pii"
    success_keys: ClassVar[tuple[str, ...]] = ("detector", "mostly")
    args_keys: ClassVar[tuple[str, ...]] = ("column", "detector")
    library_metadata: ClassVar[dict] = {"maturity": "production", "tags": ["pii", "privacy"],
                                        "contributors": ["dataflow-governance"]}


def scrub(result: dict) -> dict:
    """Drop every value-bearing key GX may have put into a result, recursively."""
    if isinstance(result, dict):
        return {k: scrub(v) for k, v in result.items() if k not in _VALUE_BEARING}
    if isinstance(result, list):
        return [scrub(v) for v in result]
    return result


def validate_dataframe(frame: pd.DataFrame, columns: list[str] | None = None,
                       detectors: tuple[str, ...] = DETECTOR_NAMES) -> dict[str, dict[str, int]]:
    """Run the expectation for every column × detector in GX's ephemeral context.

    Returns column → detector → rows with a validated match (counts only).
    """
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("dataflow_governance")
    asset = source.add_dataframe_asset("frame")
    batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(batch_parameters={"dataframe": frame})
    suite = gx.ExpectationSuite(name="no_pii", expectations=[
        ExpectColumnValuesToNotContainPii(column=str(column), detector=detector)
        for column in (columns or list(frame.columns)) for detector in detectors
    ])
    results = batch.validate(suite, result_format=SAFE_RESULT_FORMAT)
    counts: dict[str, dict[str, int]] = {}
    for item in results.results:
        kwargs = item.expectation_config.kwargs
        unexpected = int(scrub(item.result).get("unexpected_count") or 0)
        if unexpected:
            counts.setdefault(kwargs["column"], {})[kwargs["detector"]] = unexpected
    return counts
