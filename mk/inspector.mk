# The live inspector's browser tests drive Debian's headless Chromium through chromedriver
# (selenium, pinned in requirements-dev.txt). Installed once, when missing; browsers cannot be
# downloaded by other means on these machines, so no `playwright install`.

.PHONY: browser-deps

CHROMIUM ?= /usr/bin/chromium
CHROMEDRIVER ?= /usr/bin/chromedriver

browser-deps: ## Chromium and chromedriver for the browser tests (apt, when missing)
	@if [ ! -x "$(CHROMIUM)" ] || [ ! -x "$(CHROMEDRIVER)" ]; then \
		echo "installing chromium and chromium-driver (browser tests) ..."; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y chromium chromium-driver; \
	fi

TEST_PREREQS += browser-deps
