# The vendor scaffold: `make vendor NAME=<name>` (README "Add a vendor").

.PHONY: vendor

vendor: ## scaffold functions/vendors/NAME/ and its golden tests (make vendor NAME=acme)
	@test -n "$(NAME)" || { echo "usage: make vendor NAME=<name>" >&2; exit 2; }
	@$(PYTHON) tools/new_vendor.py "$(NAME)"
