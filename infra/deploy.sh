#!/usr/bin/env bash
# make deploy | make plan | make destroy: Terraform for the whole stack, with the user's
# project, region and domain. Checks what it needs first and says what is missing, without
# touching the network until the variables and tools are in place.
#
#   PROJECT=my-project REGION=europe-west1 DOMAIN=track.example.com infra/deploy.sh deploy
#
# Environment: PROJECT, REGION (required), DOMAIN (required unless DOMAIN_MODE=none),
# DOMAIN_MODE (load_balancer (default) | domain_mapping | none), ALLOWED_ORIGINS (comma-
# separated page origins for collect's CORS allow-list), AUTO_APPROVE=1 (destroy without
# asking), STATE_BUCKET (default <project>-tagging-tfstate), SEEK_TIME (see "Changing a
# vendor's events" in docs/deploy.md). Other variables go in infra/terraform.tfvars
# (git-ignored), which Terraform reads by itself.
#
# Before Terraform, with gcloud (each step is idempotent, each failure stops the script):
#   1. enable the APIs Terraform needs before its first plan (Service Usage, Resource Manager, ...)
#   2. create the Pub/Sub service agent (enabling the API does not create it at once)
#   3. check that the region offers Cloud Run functions (and so their Cloud Build builds)
#   4. create the versioned state bucket once
#   5. list which secrets hold a value
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

STATE_BUCKET="${STATE_BUCKET:-$PROJECT-tagging-tfstate}"
STATE_PREFIX="server-side-tagging"
[[ "$STATE_BUCKET" =~ ^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$ ]] ||
    fail "STATE_BUCKET=$STATE_BUCKET is not a bucket name (3-63 lowercase letters, digits, - and _)."
step() { printf '== %s\n' "$1" >&2; }
warn() {
    printf 'warning: %s\n' "$1" >&2
    shift
    for line in "$@"; do printf '         %s\n' "$line" >&2; done
}

# The same list as local.services in main.tf (Terraform keeps managing them); BigQuery for
# the ledger (on by default), Compute for the load balancer, Cloud Scheduler for batch-mode
# vendors (infra/batch.tf; enabling it unused costs nothing).
SERVICES=(
    serviceusage.googleapis.com cloudresourcemanager.googleapis.com iam.googleapis.com
    artifactregistry.googleapis.com cloudbuild.googleapis.com cloudfunctions.googleapis.com
    run.googleapis.com pubsub.googleapis.com secretmanager.googleapis.com
    storage.googleapis.com logging.googleapis.com monitoring.googleapis.com
    bigquery.googleapis.com
    # Batch mode's scheduler; the Data Manager API of googleads (enabled up front whether or
    # not those are used: enabling an API costs nothing, and Terraform enables them too).
    cloudscheduler.googleapis.com datamanager.googleapis.com
    # The cookie keeper's store (infra/cookie_keeper.tf; off by default, enabling costs nothing).
    firestore.googleapis.com
)
if [[ "$DOMAIN_MODE" == "load_balancer" ]]; then SERVICES+=(compute.googleapis.com); fi

bootstrap() {
    step "enabling APIs (gcloud services enable)"
    gcloud services enable "${SERVICES[@]}" --project "$PROJECT" >&2 ||
        fail "could not enable the APIs of $PROJECT (see gcloud's message above)." \
            "Is billing enabled?  gcloud billing projects describe $PROJECT" \
            "Do you hold Service Usage Admin (or Owner) on the project?"

    step "creating the Pub/Sub service agent (gcloud beta services identity create)"
    gcloud beta services identity create --service=pubsub.googleapis.com --project "$PROJECT" >&2 ||
        fail "could not create the Pub/Sub service agent of $PROJECT (see gcloud's message above)." \
            "Needs the gcloud beta component: gcloud components install beta"

    step "checking that $REGION offers Cloud Run functions"
    local regions
    regions="$(gcloud functions regions list --project "$PROJECT" --format='value(locationId)')" ||
        fail "could not list the Cloud Run functions regions (see gcloud's message above)."
    grep -qxF "$REGION" <<<"$regions" ||
        fail "REGION=$REGION does not offer Cloud Run functions (their builds run in Cloud Build there)." \
            "Regions that do: $(tr '\n' ' ' <<<"$regions")"
}

# Terraform state in a versioned bucket, so a teammate or a second machine sees the same state
# and an overwritten state can be restored from an older object version.
state_bucket() {
    local found
    found="$(gcloud storage buckets list --project "$PROJECT" --filter="name=$STATE_BUCKET" --format='value(name)')" ||
        fail "could not look for the state bucket gs://$STATE_BUCKET (see gcloud's message above)."
    if [[ -z "$found" ]]; then
        [[ "$1" == "create" ]] ||
            fail "no Terraform state bucket gs://$STATE_BUCKET in $PROJECT: nothing was deployed from here (or set STATE_BUCKET)."
        step "creating the Terraform state bucket gs://$STATE_BUCKET (once)"
        gcloud storage buckets create "gs://$STATE_BUCKET" --project "$PROJECT" --location "$REGION" \
            --uniform-bucket-level-access --public-access-prevention >&2 ||
            fail "could not create gs://$STATE_BUCKET (bucket names are global: set STATE_BUCKET=another-name)."
        gcloud storage buckets update "gs://$STATE_BUCKET" --versioning --project "$PROJECT" >&2 ||
            fail "could not turn on versioning of gs://$STATE_BUCKET."
    fi
}

# Secrets are created empty by Terraform; their values are added with gcloud, and every function
# reads them at runtime. The list only labels the `secrets` output (variables.tf,
# provisioned_secrets); a failed listing stops the deploy rather than report every secret empty.
provisioned_secrets() {
    local ids=() id names versions
    names="$(gcloud secrets list --project "$PROJECT" --filter='labels.app=server-side-tagging' \
        --format='value(name)')" ||
        fail "could not list the secrets of $PROJECT (see gcloud's message above); nothing was changed." \
            "Run make $ACTION again; if it persists: gcloud secrets list --project $PROJECT"
    while IFS= read -r id; do
        [[ -z "$id" ]] && continue
        id="${id##*/}"
        [[ "$id" =~ ^[A-Za-z0-9_-]+$ ]] || fail "unexpected secret name from gcloud: $id"
        versions="$(gcloud secrets versions list "$id" --project "$PROJECT" --filter='state=ENABLED' \
            --limit=1 --format='value(name)')" ||
            fail "could not list the versions of secret $id (see gcloud's message above); nothing was changed."
        if [[ -n "$versions" ]]; then ids+=("\"$id\""); fi
    done <<<"$names"
    local IFS=,
    printf '[%s]' "${ids[*]:-}"
}

# collect's CORS allow-list: ALLOWED_ORIGINS=https://www.example.com,https://example.com, or
# allowed_origins in infra/terraform.tfvars.
allowed_origins_json() {
    local origin items=()
    [[ -z "${ALLOWED_ORIGINS:-}" ]] && return 0
    IFS=, read -ra origins <<<"$ALLOWED_ORIGINS"
    for origin in "${origins[@]}"; do
        origin="${origin// /}"
        [[ -z "$origin" ]] && continue
        [[ "$origin" =~ ^https?://[a-z0-9.-]+(:[0-9]+)?$ ]] ||
            fail "ALLOWED_ORIGINS: $origin is not an origin such as https://www.example.com (scheme and host, no path)."
        items+=("\"$origin\"")
    done
    local IFS=,
    printf '[%s]' "${items[*]:-}"
}

# Names of Pub/Sub subscriptions the saved plan deletes and creates again (a changed filter
# cannot be updated in place).
replaced_subscriptions() {
    tf show -json "$1" | python3 -c '
import json, sys
plan = json.load(sys.stdin)
for change in plan.get("resource_changes", []):
    actions = change.get("change", {}).get("actions", [])
    if change.get("type") == "google_pubsub_subscription" and "delete" in actions and "create" in actions:
        print((change["change"].get("before") or {}).get("name") or change["address"])
'
}

tf() { terraform -chdir="$INFRA_DIR" "$@"; }

init() {
    local migrate=()
    # A state from before remote state: copy it into the bucket once.
    if [[ -f "$INFRA_DIR/terraform.tfstate" ]]; then migrate=(-migrate-state -force-copy); fi
    step "terraform init (state in gs://$STATE_BUCKET/$STATE_PREFIX)"
    tf init -input=false -upgrade=false -backend-config="bucket=$STATE_BUCKET" \
        -backend-config="prefix=$STATE_PREFIX" "${migrate[@]}" >&2
    if [[ ${#migrate[@]} -gt 0 ]]; then
        mv "$INFRA_DIR/terraform.tfstate" "$INFRA_DIR/terraform.tfstate.migrated-to-gcs"
        echo "The local state was copied to gs://$STATE_BUCKET; the old file is terraform.tfstate.migrated-to-gcs." >&2
    fi
}

write_tfvars() {
    local secrets origins
    secrets="$(provisioned_secrets)"
    origins="$(allowed_origins_json)"
    if [[ "$ACTION" != "destroy" && -z "$origins" ]] && ! grep -qE '^[[:space:]]*allowed_origins[[:space:]]*=[[:space:]]*\[[[:space:]]*"' \
        "$INFRA_DIR/terraform.tfvars" 2>/dev/null; then
        warn "ALLOWED_ORIGINS is empty: collect answers CORS without credentials, so pages cannot read its answers and the debug cookie counts only without an Origin." \
            "Set your site's origins: make $ACTION ... ALLOWED_ORIGINS=https://www.example.com" \
            "(or allowed_origins = [\"https://www.example.com\"] in infra/terraform.tfvars)."
    fi
    {
        printf '{\n  "project_id": "%s",\n  "region": "%s",\n  "domain": "%s",\n' "$PROJECT" "$REGION" "$DOMAIN"
        printf '  "domain_mode": "%s",\n  "provisioned_secrets": %s' "$DOMAIN_MODE" "$secrets"
        if [[ -n "$origins" ]]; then printf ',\n  "allowed_origins": %s' "$origins"; fi
        printf '\n}\n'
    } >"$WORK/deploy.tfvars.json"
}

plan() {
    tf plan -input=false -var-file="$WORK/deploy.tfvars.json" -out="$WORK/tfplan"
    REPLACED="$(replaced_subscriptions "$WORK/tfplan")"
    if [[ -n "$REPLACED" ]]; then
        warn "this plan REPLACES Pub/Sub subscription(s): $(tr '\n' ' ' <<<"$REPLACED")" \
            "(a vendor's events: changed its filter, which Pub/Sub cannot update in place)." \
            "make deploy seeks each new subscription back to the moment before the apply, so events" \
            "published during the swap are delivered; a backlog older than that is dropped unless" \
            "you set SEEK_TIME (docs/deploy.md, \"Changing a vendor's events\")."
    fi
}

# config/vendors.yaml as make run and every function read it (privacy rules included): a wrong
# rule stops here, naming vendor, rule and key, before anything is created or planned.
if [[ "$ACTION" != "destroy" && -f "$INFRA_DIR/../devstack/config.py" ]]; then
    step "checking config/vendors.yaml"
    PYTHONPATH="$INFRA_DIR/.." "$([[ -x "$INFRA_DIR/../.venv/bin/python" ]] && echo "$INFRA_DIR/../.venv/bin/python" || echo python3)" \
        -m devstack.config "$INFRA_DIR/../config/vendors.yaml" ||
        fail "config/vendors.yaml is not valid (see above): fix it, then run make $ACTION again."
fi

case "$ACTION" in
    plan)
        bootstrap
        state_bucket create
        write_tfvars
        init
        plan
        ;;
    deploy)
        bootstrap
        state_bucket create
        write_tfvars
        init
        plan
        before_apply="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
        tf apply -input=false "$WORK/tfplan"
        if [[ -n "$REPLACED" ]]; then
            while IFS= read -r sub; do
                [[ -z "$sub" ]] && continue
                step "replaying $sub from ${SEEK_TIME:-$before_apply} (the events topic keeps messages)"
                gcloud pubsub subscriptions seek "$sub" --time="${SEEK_TIME:-$before_apply}" --project "$PROJECT" >&2 ||
                    fail "could not seek $sub; run: gcloud pubsub subscriptions seek $sub --time=${SEEK_TIME:-$before_apply} --project $PROJECT"
            done <<<"$REPLACED"
        fi
        echo
        echo "collect:      $(tf output -raw collect_url)/g/collect"
        echo "DNS records:  $(tf output -json dns_records)"
        echo "secrets:      $(tf output -json secrets)"
        echo "Next steps: docs/deploy.md (DNS record, secrets, the GA4 tag's server_container_url)."
        [[ -z "$DOMAIN" ]] || "$([[ -x "$INFRA_DIR/../.venv/bin/python" ]] && echo "$INFRA_DIR/../.venv/bin/python" || echo python3)" "$INFRA_DIR/../tools/check_domain.py" --collect "$DOMAIN" ${SITE:+--site "$SITE"} || true  # Safari cookie self-check (docs/first-party.md)
        ;;
    destroy)
        state_bucket exists
        write_tfvars
        init
        cat >&2 <<TEXT
make destroy deletes, among everything it created:
  - the load balancer's static IP address (it is released: a DNS record pointing at it stops working),
  - every Secret Manager secret of the stack WITH ITS VALUES (tokens you would have to ask the vendors for again),
  - the delivery ledger dataset with its rows, and the function images.
The raw event archive table is protected: destroy stops there unless you first set
archive_deletion_protection = false in infra/terraform.tfvars and run make deploy.
TEXT
        if [[ "${AUTO_APPROVE:-}" == "1" ]]; then
            tf destroy -input=false -auto-approve -var-file="$WORK/deploy.tfvars.json"
        else
            tf destroy -var-file="$WORK/deploy.tfvars.json"
        fi
        cat <<TEXT

Left behind on purpose (remove them by hand if you want nothing left):
  - the Terraform state bucket, with old state versions:   gcloud storage rm -r gs://$STATE_BUCKET
  - the enabled APIs (Terraform never disables them):        gcloud services disable SERVICE --project $PROJECT
  - Cloud Run functions' own source buckets of $REGION:      gcloud storage rm -r gs://gcf-v2-sources-PROJECT_NUMBER-$REGION gs://gcf-v2-uploads-PROJECT_NUMBER-$REGION
  - build logs in Cloud Logging (they expire with the _Default bucket's retention).
TEXT
        ;;
esac
