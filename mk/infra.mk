# Terraform: `make deploy`, `make plan`, `make destroy` (infra/deploy.sh checks the tools,
# PROJECT, REGION, DOMAIN and gcloud credentials first), and checkov for `make test`.
# ALLOWED_ORIGINS, STATE_BUCKET, SEEK_TIME and AUTO_APPROVE given on the command line reach
# deploy.sh too (make exports command-line variables to recipes).
#
#   make deploy PROJECT=my-project REGION=europe-west1 DOMAIN=track.example.com
#   make deploy PROJECT=my-project REGION=europe-west1 DOMAIN_MODE=none

CHECKOV_VENV ?= .venv-checkov
# checkov pins old versions of shared packages: it lives in its own virtual environment.
CHECKOV_VERSION ?= 3.3.30

$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@

TEST_PREREQS += $(CHECKOV_VENV)/.installed

.PHONY: deploy plan destroy

deploy: ## provision the whole stack in Google Cloud (PROJECT=, REGION=, DOMAIN= [DOMAIN_MODE=])
	@PROJECT="$(PROJECT)" REGION="$(REGION)" DOMAIN="$(DOMAIN)" DOMAIN_MODE="$(DOMAIN_MODE)" infra/deploy.sh deploy

plan: ## show what `make deploy` would change (same variables)
	@PROJECT="$(PROJECT)" REGION="$(REGION)" DOMAIN="$(DOMAIN)" DOMAIN_MODE="$(DOMAIN_MODE)" infra/deploy.sh plan

destroy: ## remove everything `make deploy` created (same variables)
	@PROJECT="$(PROJECT)" REGION="$(REGION)" DOMAIN="$(DOMAIN)" DOMAIN_MODE="$(DOMAIN_MODE)" infra/deploy.sh destroy
