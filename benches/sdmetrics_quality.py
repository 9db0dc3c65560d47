"""Scores a synthetic table with SDMetrics' own QualityReport, for the quality bench.

    python3 benches/sdmetrics_quality.py REAL.parquet SYNTHETIC.parquet

Prints one JSON object: the report's overall score, column shapes and column pair trends.
String columns are declared categorical and every other column numerical, as the bench's
tables need. Install with `python3 -m pip install sdmetrics pyarrow` (the bench skips this
score when the import fails).

The report bins the numerical columns of each table over that table's own range before it
compares contingency tables (sdmetrics 0.32, ColumnPairTrends._get_processed_data), unlike the
ContingencySimilarity metric, which bins both over the real range: a synthetic column whose
minimum or maximum differs from the real one lands in shifted bins, which the bench's own
pair-trend score does not penalise.
"""

import json
import sys
import warnings

import pandas as pd
from sdmetrics.reports.single_table import QualityReport


def main() -> None:
    warnings.filterwarnings("ignore")
    real = pd.read_parquet(sys.argv[1])
    synthetic = pd.read_parquet(sys.argv[2])[list(real.columns)]
    metadata = {
        "columns": {
            name: {"sdtype": "categorical" if real[name].dtype == object else "numerical"}
            for name in real.columns
        }
    }
    report = QualityReport()
    report.generate(real, synthetic, metadata, verbose=False)
    properties = report.get_properties().set_index("Property")["Score"]
    print(
        json.dumps(
            {
                "quality": float(report.get_score()),
                "column_shapes": float(properties["Column Shapes"]),
                "pair_trends": float(properties["Column Pair Trends"]),
            }
        )
    )


if __name__ == "__main__":
    main()
