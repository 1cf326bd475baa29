# Privacy controls (docs/privacy.md).
.PHONY: bench-privacy check-config

bench-privacy: setup ## collect's CPU per hit with/without the privacy step, bot classifier cold/warm
	$(PY) -m bench.privacy_micro

check-config: setup ## validate config/vendors.yaml (privacy rules included) as make run and make deploy do
	$(PY) -m devstack.config
