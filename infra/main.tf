/**
 * Server-side tagging on Google Cloud: the whole stack.
 *
 * collect (public HTTP function) -> Pub/Sub tagging-events -> one push subscription per
 * vendor -> one vendor function per vendor; dead letters in tagging-dead-letter. Vendors are
 * read from config/vendors.yaml and discovered as functions/vendors/<name>/main.py: adding a
 * vendor is a folder plus an entry, nothing here.
 */

locals {
  source_root  = abspath(coalesce(var.source_root, "${path.module}/.."))
  vendors_root = "${local.source_root}/functions/vendors"
  vendors      = module.vendor_config.vendors
  delivery     = module.vendor_config.delivery

  # Each function's archive is its folder + shared/ + requirements.txt (see function_source).
  build_dir = "${path.root}/.terraform/archives"

  services = concat(
    [
      "artifactregistry.googleapis.com",
      "cloudbuild.googleapis.com",
      "cloudfunctions.googleapis.com",
      "cloudresourcemanager.googleapis.com",
      "iam.googleapis.com",
      "logging.googleapis.com",
      "monitoring.googleapis.com",
      "pubsub.googleapis.com",
      "run.googleapis.com",
      "secretmanager.googleapis.com",
      "serviceusage.googleapis.com",
      "storage.googleapis.com",
    ],
    var.enable_event_archive || var.enable_delivery_ledger ? ["bigquery.googleapis.com"] : [],
    var.domain_mode == "load_balancer" ? ["compute.googleapis.com"] : [],
    var.cookie_keeper.mode != "off" ? ["firestore.googleapis.com"] : [], # infra/cookie_keeper.tf
    # googleads sends through the Data Manager API as its own service account (no secret).
    contains(keys(module.vendor_config.vendors), "googleads") ? ["datamanager.googleapis.com"] : [],
  )

  # infra/deploy.sh creates this agent (`gcloud beta services identity create`) before
  # Terraform runs: enabling the API alone does not create it right away.
  pubsub_service_agent = "service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  # Buckets a function build reads and writes: our sources, and the per-region buckets Cloud
  # Run functions copies sources into (gcf-v2-sources-*) and takes uploads in (gcf-v2-uploads-*).
  build_buckets = [
    "${var.project_id}-tagging-sources",
    "gcf-v2-sources-${data.google_project.this.number}-${var.region}",
    "gcf-v2-uploads-${data.google_project.this.number}-${var.region}",
  ]
  # Every permission of roles/run.builder except storage ones on other buckets.
  build_storage_condition = join(" || ", concat(
    ["!(resource.type == \"storage.googleapis.com/Bucket\" || resource.type == \"storage.googleapis.com/Object\")"],
    [for b in local.build_buckets : "resource.name.startsWith(\"projects/_/buckets/${b}\")"],
  ))
}

module "vendor_config" {
  source = "./modules/vendor_config"

  config_file = coalesce(var.vendors_config_file, "${local.source_root}/config/vendors.yaml")
  vendors_dir = local.vendors_root
}

# Fails the plan with a clear message when the configuration and the folders disagree.
resource "terraform_data" "vendor_config" {
  input = keys(local.vendors)

  lifecycle {
    precondition {
      condition     = length(module.vendor_config.missing_folders) == 0
      error_message = "config/vendors.yaml lists vendor(s) without a folder functions/vendors/<name>/main.py: ${join(", ", module.vendor_config.missing_folders)}. Add the folder or remove the entry."
    }
    precondition {
      condition     = !module.vendor_config.duplicate_secrets
      error_message = "Two vendors in config/vendors.yaml have a secret with the same full name <VENDOR>_<NAME> (e.g. vendor shop with EU_TOKEN and vendor shop_eu with TOKEN); full names are Secret Manager IDs and must be unique."
    }
    precondition {
      condition     = local.delivery.max_delivery_attempts >= 5 && local.delivery.max_delivery_attempts <= 100
      error_message = "delivery.cloud.max_delivery_attempts in config/vendors.yaml must be between 5 and 100 (Pub/Sub's limits)."
    }
    precondition {
      condition     = local.delivery.minimum_backoff_seconds >= 0 && local.delivery.minimum_backoff_seconds <= local.delivery.maximum_backoff_seconds && local.delivery.maximum_backoff_seconds <= 600
      error_message = "delivery.cloud backoff in config/vendors.yaml must satisfy 0 <= minimum <= maximum <= 600 seconds."
    }
  }
}

data "google_project" "this" {
  project_id = var.project_id
}

resource "google_project_service" "enabled" {
  for_each = toset(local.services)

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

# An API answers "has not been used in project ... or it is disabled" for a while after it
# was enabled. infra/deploy.sh enables them before Terraform; this wait covers an API added
# later (the set changes, so the wait runs again) and nothing on a run without changes.
resource "time_sleep" "apis_ready" {
  create_duration = var.api_propagation_wait
  triggers = {
    services = join(",", sort(local.services))
  }
  depends_on = [google_project_service.enabled]
}

# ---------------------------------------------------------------------------------------------
# Function sources and the identity that builds them
# ---------------------------------------------------------------------------------------------

resource "google_storage_bucket" "sources" {
  #checkov:skip=CKV_GCP_62:Access logs of a bucket holding only build archives of this repository's public code add cost and no audit value; Cloud Audit Logs record admin access.
  name                        = local.build_buckets[0]
  project                     = var.project_id
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true
  labels                      = var.labels

  versioning {
    enabled = true
  }

  # Every deploy uploads new archives (the object name carries the content hash): keep a few.
  lifecycle_rule {
    action {
      type = "Delete"
    }
    condition {
      age = 30
    }
  }

  depends_on = [time_sleep.apis_ready]
}

module "collect_source" {
  source = "./modules/function_source"

  name              = "collect"
  function_dir      = "${local.source_root}/functions/collect"
  shared_dir        = "${local.source_root}/shared"
  requirements_file = "${local.source_root}/requirements.txt"
  build_dir         = local.build_dir
  bucket            = google_storage_bucket.sources.name
}

module "vendor_source" {
  source   = "./modules/function_source"
  for_each = local.vendors

  name              = "vendor-${each.key}"
  function_dir      = "${local.vendors_root}/${each.key}"
  shared_dir        = "${local.source_root}/shared"
  requirements_file = "${local.source_root}/requirements.txt"
  build_dir         = local.build_dir
  bucket            = google_storage_bucket.sources.name
}

# Cloud Build runs the function builds as this account instead of the default compute
# service account, which may hold the Editor role. Google's Cloud Run build docs ask for
# roles/run.builder (build logs, images, sources); the condition keeps its storage rights to
# the function buckets (build_buckets) and leaves every other bucket of the project alone.
resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "tagging-build"
  display_name = "Builds the tagging functions"
  depends_on   = [time_sleep.apis_ready]
}

resource "google_project_iam_member" "build" {
  for_each = toset(["roles/run.builder"])

  project = var.project_id
  role    = each.value
  member  = google_service_account.build.member

  dynamic "condition" {
    for_each = var.scope_build_storage ? [local.build_storage_condition] : []
    content {
      title       = "tagging-function-buckets-only"
      description = "Storage rights only on the tagging sources bucket and the Cloud Run functions buckets of ${var.region}."
      expression  = condition.value
    }
  }
}

# Images of every build land here instead of gcf-artifacts, where they would pile up: the
# cleanup policy keeps the newest few per function and deletes the rest after a week.
resource "google_artifact_registry_repository" "functions" {
  #checkov:skip=CKV_GCP_84:Images are builds of this repository's public code; Google-managed encryption is enough, a CMEK is an organisation choice.
  project                = var.project_id
  location               = var.region
  repository_id          = "tagging-functions"
  format                 = "DOCKER"
  description            = "Images of the tagging functions (built by Cloud Build)."
  labels                 = var.labels
  cleanup_policy_dry_run = false

  cleanup_policies {
    id     = "keep-newest"
    action = "KEEP"
    most_recent_versions {
      keep_count = var.images_kept_per_function
    }
  }
  cleanup_policies {
    id     = "delete-older"
    action = "DELETE"
    condition {
      tag_state  = "ANY"
      older_than = "604800s"
    }
  }

  depends_on = [time_sleep.apis_ready]
}

# IAM grants take minutes to reach every Google service. Five builds start right after the
# build grant, and Pub/Sub starts minting push tokens right after its grant: wait once.
resource "time_sleep" "iam_propagation" {
  create_duration = var.iam_propagation_wait
  triggers = {
    build_roles = join(",", [for m in google_project_iam_member.build : "${m.role}:${m.member}"])
    condition   = var.scope_build_storage ? local.build_storage_condition : ""
    push_tokens = google_service_account_iam_member.pubsub_signs_push_tokens.member
  }
}

# ---------------------------------------------------------------------------------------------
# The event bus, collect and the vendors
# ---------------------------------------------------------------------------------------------

module "event_bus" {
  source = "./modules/event_bus"

  project_id                  = var.project_id
  pubsub_service_agent        = local.pubsub_service_agent
  enable_event_archive        = var.enable_event_archive
  bigquery_location           = var.bigquery_location
  archive_retention_days      = var.archive_retention_days
  archive_deletion_protection = var.archive_deletion_protection
  labels                      = var.labels

  depends_on = [time_sleep.apis_ready]
}

module "collect" {
  source = "./modules/ingest_function"

  project_id              = var.project_id
  region                  = var.region
  source_bucket           = module.collect_source.bucket
  source_object           = module.collect_source.object
  build_service_account   = google_service_account.build.id
  docker_repository       = google_artifact_registry_repository.functions.id
  events_topic_id         = module.event_bus.events_topic_id
  events_topic_name       = module.event_bus.events_topic_name
  allowed_measurement_ids = var.allowed_measurement_ids
  allowed_origins         = var.allowed_origins
  cookie_domain           = var.cookie_domain
  ip_truncation           = lookup(module.vendor_config.collect_settings, "IP_TRUNCATION", "")
  ingress_settings        = var.domain_mode == "load_balancer" ? "ALLOW_INTERNAL_AND_GCLB" : "ALLOW_ALL"
  scaling                 = var.collect
  labels                  = var.labels
  # First-party scripts and cookies (docs/first-party.md) and collect's limits.
  cookie_max_age_days      = var.cookie_max_age_days
  server_cookies           = var.server_cookies
  allowed_tag_ids          = var.allowed_tag_ids
  tag_aliases              = var.tag_aliases
  tag_upstream_origin      = var.tag_upstream_origin
  tag_server_container_url = var.tag_server_container_url
  tag_cache_seconds        = var.tag_cache_seconds
  tag_stale_seconds        = var.tag_stale_seconds
  # Google tag gateway mode (docs/first-party.md "Gateway mode").
  script_gateway_path        = var.script_gateway_path
  script_gateway_tag_id      = var.script_gateway_tag_id
  script_gateway_placeholder = var.script_gateway_placeholder
  max_events                 = var.collect_max_events
  body_read_seconds          = var.collect_body_read_seconds
  publishing                 = var.collect_publishing
  # infra/edge.tf: client IP, the load balancer's edge secret, the request-log exclusion.
  trusted_proxy_hops  = local.trusted_proxy_hops
  edge_auth_secret_id = local.behind_load_balancer ? google_secret_manager_secret_version.edge_auth[0].secret : null
  exclude_request_log = var.exclude_collect_request_log
  # infra/cookie_keeper.tf: settings, the salt secret and the store (only when it is on).
  cookie_keeper                = var.cookie_keeper
  cookie_keeper_database       = local.cookie_keeper_database
  cookie_keeper_collection     = local.cookie_keeper_collection
  cookie_keeper_salt_secret_id = local.cookie_keeper_on ? google_secret_manager_secret_version.cookie_keeper_salt[0].secret : null

  depends_on = [time_sleep.apis_ready, time_sleep.iam_propagation]
}

# The identity Pub/Sub signs push requests with (OIDC); it may only invoke vendor functions.
resource "google_service_account" "push" {
  project      = var.project_id
  account_id   = "tagging-push"
  display_name = "Pub/Sub push identity for the vendor functions"
  depends_on   = [time_sleep.apis_ready]
}

# The Pub/Sub service agent mints the OIDC tokens of push requests as the push identity.
resource "google_service_account_iam_member" "pubsub_signs_push_tokens" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${local.pubsub_service_agent}"
}

module "vendor" {
  source   = "./modules/vendor_function"
  for_each = local.vendors

  project_id              = var.project_id
  region                  = var.region
  vendor                  = each.key
  source_bucket           = module.vendor_source[each.key].bucket
  source_object           = module.vendor_source[each.key].object
  build_service_account   = google_service_account.build.id
  docker_repository       = google_artifact_registry_repository.functions.id
  settings                = each.value.settings
  secrets                 = each.value.secrets
  events                  = each.value.events
  filter                  = each.value.filter
  events_topic_id         = module.event_bus.events_topic_id
  dead_letter_topic_id    = module.event_bus.dead_letter_topic_id
  max_delivery_attempts   = local.delivery.max_delivery_attempts
  minimum_backoff_seconds = local.delivery.minimum_backoff_seconds
  maximum_backoff_seconds = local.delivery.maximum_backoff_seconds
  push_service_account    = google_service_account.push.email
  pubsub_service_agent    = local.pubsub_service_agent
  scaling                 = var.vendor_functions
  labels                  = var.labels
  delivery                = each.value.delivery
  batch                   = { max_messages = module.vendor_config.batch.max_messages, drain_seconds = module.vendor_config.batch.drain_seconds }

  depends_on = [
    terraform_data.vendor_config,
    time_sleep.apis_ready,
    time_sleep.iam_propagation,
  ]
}

# ---------------------------------------------------------------------------------------------
# Domain, monitoring, ledger
# ---------------------------------------------------------------------------------------------

module "custom_domain" {
  source = "./modules/custom_domain"

  project_id      = var.project_id
  region          = var.region
  mode            = var.domain_mode
  domain          = var.domain
  service_name    = module.collect.function_name
  security_policy = local.security_policy
  labels          = var.labels
  # infra/edge.tf: the X-Edge-Auth value collect checks before trusting geo headers.
  edge_auth_secret = local.behind_load_balancer ? random_password.edge_auth[0].result : ""
  # Google tag routes (and the gateway path) go to a backend that adds geo headers.
  script_alias_paths = keys(var.tag_aliases)
  gateway_path       = var.script_gateway_path
  hit_geo_headers    = var.geo_headers_on_hits

  depends_on = [time_sleep.apis_ready]
}

module "monitoring" {
  source = "./modules/monitoring"

  project_id = var.project_id
  # Batch vendors are watched on <vendor>-pull; googleads' subscriptions are vendor-googleads-*
  # (Pub/Sub names must not start with "goog"; devstack/names.py).
  vendor_subscriptions = flatten([for v, c in local.vendors : [
    for s in [c.delivery == "batch" ? "pull" : "push", "replay-push"] : "${startswith(v, "goog") ? "vendor-${v}" : v}-${s}"
  ]])
  dead_letter_subscription       = module.event_bus.dead_letter_subscription_name
  alert_email                    = var.alert_email
  rejected_deliveries_per_minute = var.rejected_deliveries_per_minute
  metric_propagation_wait        = var.metric_propagation_wait
  labels                         = var.labels

  depends_on = [time_sleep.apis_ready]
}

module "delivery_ledger" {
  source = "./modules/delivery_ledger"
  count  = var.enable_delivery_ledger ? 1 : 0

  project_id     = var.project_id
  location       = var.bigquery_location
  retention_days = var.ledger_retention_days
  labels         = var.labels

  delete_contents_on_destroy = var.ledger_delete_contents_on_destroy
  exclude_from_default       = var.ledger_exclude_from_default_bucket

  depends_on = [time_sleep.apis_ready]
}
