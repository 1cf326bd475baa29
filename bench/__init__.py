"""The benchmark behind ``make bench``: ingest, delivery and cold start, plus the cost model."""
