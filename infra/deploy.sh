#!/usr/bin/env bash
# make deploy | make plan | make destroy: Terraform for the whole stack, with the user's
# project, region and domain. Checks what it needs first and says what is missing, without
# touching the network until the variables and tools are in place.
#
#   PROJECT=my-project REGION=europe-west1 DOMAIN=track.example.com infra/deploy.sh deploy
#
# Environment: PROJECT, REGION (required), DOMAIN (required unless DOMAIN_MODE=none),
# DOMAIN_MODE (load_balancer (default) | domain_mapping | none), AUTO_APPROVE=1 (destroy without asking). Other variables go in
# infra/terraform.tfvars (git-ignored), which Terraform reads by itself.
set -euo pipefail

INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ACTION="${1:-}"

fail() {
    printf 'error: %s\n' "$1" >&2
    shift
    for line in "$@"; do printf '       %s\n' "$line" >&2; done
    exit 1
}

case "$ACTION" in
    deploy | plan | destroy) ;;
    *) fail "usage: deploy.sh deploy|plan|destroy" ;;
esac

# --- tools ---------------------------------------------------------------------------------
command -v terraform >/dev/null 2>&1 ||
    fail "terraform is not installed." "Install Terraform >= 1.9: https://developer.hashicorp.com/terraform/install"
command -v gcloud >/dev/null 2>&1 ||
    fail "gcloud is not installed." "Install the Google Cloud CLI: https://cloud.google.com/sdk/docs/install"

# --- variables -----------------------------------------------------------------------------
PROJECT="${PROJECT:-}"
REGION="${REGION:-}"
DOMAIN="${DOMAIN:-}"
DOMAIN_MODE="${DOMAIN_MODE:-load_balancer}"

[[ -n "$PROJECT" ]] ||
    fail "PROJECT is not set: the Google Cloud project ID to deploy into." \
        "make $ACTION PROJECT=my-project REGION=europe-west1 DOMAIN=track.example.com"
[[ "$PROJECT" =~ ^[a-z][a-z0-9-]{4,28}[a-z0-9]$ ]] ||
    fail "PROJECT=$PROJECT is not a project ID (6-30 lowercase letters, digits, hyphens)." \
        "gcloud projects list shows the IDs of your projects."
[[ -n "$REGION" ]] ||
    fail "REGION is not set: the region of the functions, e.g. europe-west1 or us-central1." \
        "make $ACTION PROJECT=$PROJECT REGION=europe-west1 DOMAIN=track.example.com"
[[ "$REGION" =~ ^[a-z]+-[a-z]+[0-9]$ ]] ||
    fail "REGION=$REGION is not a region name such as europe-west1."
[[ -z "$DOMAIN" || "$DOMAIN" =~ ^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$ ]] ||
    fail "DOMAIN=$DOMAIN is not a host name: give the subdomain only, e.g. track.example.com (no https://, no path)."
case "$DOMAIN_MODE" in
    load_balancer | domain_mapping)
        [[ -n "$DOMAIN" ]] ||
            fail "DOMAIN is not set: the tracking subdomain, e.g. track.example.com (DOMAIN_MODE=$DOMAIN_MODE needs one)." \
                "Or deploy without a custom domain: make $ACTION PROJECT=$PROJECT REGION=$REGION DOMAIN_MODE=none"
        ;;
    none) ;;
    *) fail "DOMAIN_MODE=$DOMAIN_MODE is not one of load_balancer, domain_mapping, none." ;;
esac

# --- credentials (Terraform's google provider uses Application Default Credentials) ---------
if ! gcloud auth application-default print-access-token --quiet >/dev/null 2>&1; then
    fail "no Google Cloud credentials for Terraform (Application Default Credentials)." \
        "Run: gcloud auth application-default login" \
        "(or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file)"
fi

export GOOGLE_PROJECT="$PROJECT" GOOGLE_REGION="$REGION"
export TF_IN_AUTOMATION=1
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# Secrets are created empty by Terraform; their values are added with gcloud. Only secrets
# that hold an enabled version are injected into the functions (see variables.tf).
provisioned_secrets() {
    local ids=() id
    while IFS= read -r id; do
        [[ -z "$id" ]] && continue
        id="${id##*/}"
        if [[ -n "$(gcloud secrets versions list "$id" --project "$PROJECT" --filter='state=ENABLED' \
            --limit=1 --format='value(name)' 2>/dev/null)" ]]; then
            ids+=("\"$id\"")
        fi
    done < <(gcloud secrets list --project "$PROJECT" --filter='labels.app=server-side-tagging' \
        --format='value(name)' 2>/dev/null || true)
    local IFS=,
    printf '[%s]' "${ids[*]:-}"
}

cat >"$WORK/deploy.tfvars.json" <<JSON
{
  "project_id": "$PROJECT",
  "region": "$REGION",
  "domain": "$DOMAIN",
  "domain_mode": "$DOMAIN_MODE",
  "provisioned_secrets": $(provisioned_secrets)
}
JSON

tf() { terraform -chdir="$INFRA_DIR" "$@"; }

# config/vendors.yaml as make run and every function read it (privacy rules included): a wrong
# rule stops here, naming vendor, rule and key, before anything is planned.
PYTHONPATH="$INFRA_DIR/.." "$([[ -x "$INFRA_DIR/../.venv/bin/python" ]] && echo "$INFRA_DIR/../.venv/bin/python" || echo python3)" -m devstack.config "${VENDORS_CONFIG:-$INFRA_DIR/../config/vendors.yaml}" || exit 1

echo "== terraform init" >&2
tf init -input=false -upgrade=false >&2

case "$ACTION" in
    plan)
        tf plan -input=false -var-file="$WORK/deploy.tfvars.json"
        ;;
    deploy)
        tf plan -input=false -var-file="$WORK/deploy.tfvars.json" -out="$WORK/tfplan"
        tf apply -input=false "$WORK/tfplan"
        echo
        echo "collect:      $(tf output -raw collect_url)/g/collect"
        echo "DNS records:  $(tf output -json dns_records)"
        echo "secrets:      $(tf output -json secrets)"
        echo "Next steps: docs/deploy.md (DNS record, secrets, the GA4 tag's server_container_url)."
        [[ -z "$DOMAIN" ]] || "$([[ -x "$INFRA_DIR/../.venv/bin/python" ]] && echo "$INFRA_DIR/../.venv/bin/python" || echo python3)" "$INFRA_DIR/../tools/check_domain.py" --collect "$DOMAIN" ${SITE:+--site "$SITE"} || true  # Safari cookie self-check (docs/first-party.md)
        ;;
    destroy)
        if [[ "${AUTO_APPROVE:-}" == "1" ]]; then
            tf destroy -input=false -auto-approve -var-file="$WORK/deploy.tfvars.json"
        else
            tf destroy -var-file="$WORK/deploy.tfvars.json"
        fi
        ;;
esac
