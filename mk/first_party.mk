# First-party serving (docs/first-party.md): will Safari keep collect's server-set cookies?
#   make check-domain SITE=www.example.com DOMAIN=track.example.com
#   make check-domain SITE=www.example.com            # same-origin path setup (/metrics)

.PHONY: check-domain

check-domain: setup ## warn when the tracking host is a CNAME elsewhere or off the site's address prefix (SITE=, DOMAIN=)
	@[ -n "$(SITE)" ] || { echo "usage: make check-domain SITE=www.example.com [DOMAIN=track.example.com]" >&2; exit 2; }
	@$(PY) tools/check_domain.py --site "$(SITE)" $(if $(DOMAIN),--collect "$(DOMAIN)")
