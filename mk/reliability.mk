# Reliability (issue 7): fault injection, dead-letter replay, fuzzing and the soak test.
# See docs/reliability.md.

.PHONY: chaos replay fuzz soak

chaos: setup ## fault scenarios on the real local stack; prints one row per scenario (~4 min)
	$(PY) -m reliability chaos --out .run/chaos

# make replay VENDOR=meta [DRY_RUN=1] [LIMIT=100] [MAX_SECONDS=60] [PROJECT=my-gcp-project]
# Without PROJECT it works on the local emulator of `make run` (127.0.0.1:8085).
replay: setup ## move VENDOR's dead-lettered messages back to it (DRY_RUN=1, LIMIT=n, MAX_SECONDS=s, PROJECT=p)
	@test -n "$(VENDOR)" || { echo "usage: make replay VENDOR=<name> [DRY_RUN=1] [LIMIT=n] [MAX_SECONDS=s] [PROJECT=p]" >&2; exit 2; }
	$(PY) -m reliability replay --vendor "$(VENDOR)" $(if $(DRY_RUN),--dry-run) $(if $(LIMIT),--limit $(LIMIT)) \
		$(if $(MAX_SECONDS),--max-seconds $(MAX_SECONDS)) $(if $(PROJECT),--project $(PROJECT)) --verbose

fuzz: setup ## >= 10,000 seeded generated requests against collect and each vendor's mapping
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-10000} FUZZ_REPORT=.run/fuzz/report.json $(PY) -m pytest -q -s tests/fuzz
	@cat .run/fuzz/report.json

soak: setup ## 5 minutes of load at a fixed rate, sampling each process's memory (stops by itself)
	$(PY) -m reliability soak --seconds 300 --rate 20 --warmup 60 --out .run/soak
