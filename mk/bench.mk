# `make bench`: the benchmark of issue 6 (bench/run.py). wrk drives the load; it is installed
# with apt-get when missing (sudo unless we are root).
.PHONY: bench bench-tools bench-delivery

BENCH_SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

bench-tools:
	@command -v wrk >/dev/null || { $(BENCH_SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(BENCH_SUDO) apt-get install -y -qq wrk >/dev/null; }
	@command -v wrk >/dev/null || { echo "wrk is missing and apt-get could not install it" >&2; exit 1; }

bench: setup bench-tools ## ingest, delivery, cold start and cost on this machine (~5 min; updates README results)
	$(PY) -m bench.run

bench-delivery: setup bench-tools ## delivery only: push and batch side by side, with the cost model (~1-2 min)
	$(PY) -m bench.delivery_modes
