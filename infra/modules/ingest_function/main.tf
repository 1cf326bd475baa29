/**
 * collect: the public GA4 endpoint. Its own service account may publish to the events topic
 * and read its own secrets, nothing else; anyone may invoke it (browsers send the hits).
 */

resource "google_service_account" "this" {
  project      = var.project_id
  account_id   = "tagging-${var.name}"
  display_name = "Runs the ${var.name} function (publishes to ${var.events_topic_name})"
}

resource "google_pubsub_topic_iam_member" "publishes_events" {
  project = var.project_id
  topic   = var.events_topic_id
  role    = "roles/pubsub.publisher"
  member  = google_service_account.this.member
}

# Values are added outside Terraform (`gcloud secrets versions add`), so they never reach the
# state or the repository.
resource "google_secret_manager_secret" "this" {
  for_each = toset(var.secret_names)

  project   = var.project_id
  secret_id = each.value
  # make deploy finds the secrets by this label to see which ones hold a value.
  labels = merge(var.labels, { app = "server-side-tagging" })

  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_iam_member" "reads_own_secrets" {
  for_each = google_secret_manager_secret.this

  project   = var.project_id
  secret_id = each.value.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.this.member
}

locals {
  # Every setting of docs/ga4-client.md and docs/first-party.md (LOG_HITS is local only; the
  # secrets follow below).
  settings = {
    EVENTS_TOPIC            = var.events_topic_name
    GOOGLE_CLOUD_PROJECT    = var.project_id
    IP_TRUNCATION           = var.ip_truncation # privacy.ip_truncation (docs/privacy.md)
    ALLOWED_MEASUREMENT_IDS = join(",", var.allowed_measurement_ids)
    ALLOWED_ORIGINS         = join(",", var.allowed_origins)
    COOKIE_DOMAIN           = var.cookie_domain
    COOKIE_MAX_AGE_DAYS     = tostring(var.cookie_max_age_days)
    SERVER_COOKIES          = join(",", var.server_cookies)
    # First-party Google tag serving (shared/first_party/scripts.py).
    ALLOWED_TAG_IDS          = join(",", var.allowed_tag_ids)
    TAG_ALIASES              = join(",", [for path, id in var.tag_aliases : "${path}=${id}"])
    TAG_UPSTREAM_ORIGIN      = var.tag_upstream_origin
    TAG_SERVER_CONTAINER_URL = var.tag_server_container_url
    TAG_CACHE_SECONDS        = tostring(var.tag_cache_seconds)
    TAG_STALE_SECONDS        = tostring(var.tag_stale_seconds)
    # Google tag gateway mode (docs/first-party.md "Gateway mode").
    SCRIPT_GATEWAY_PATH        = var.script_gateway_path
    SCRIPT_GATEWAY_TAG_ID      = var.script_gateway_tag_id
    SCRIPT_GATEWAY_PLACEHOLDER = var.script_gateway_placeholder
    COLLECT_MAX_EVENTS         = tostring(var.max_events)
    BODY_READ_SECONDS          = tostring(var.body_read_seconds)
    PUBLISH_TIMEOUT_SECONDS    = tostring(var.publishing.timeout_seconds)
    PUBLISH_MAX_IN_FLIGHT      = tostring(var.publishing.max_in_flight)
    # X-Forwarded-For entries our own proxies append after the visitor's (shared/ga4/context.py).
    TRUSTED_PROXY_HOPS = var.trusted_proxy_hops
    # functions-framework sizes its worker pool from THREADS: match the concurrency.
    THREADS         = tostring(var.scaling.max_instance_request_concurrency)
    SECRETS_BACKEND = "secretmanager"
  }

  # Secrets are read at runtime (shared/collect_secrets.py through shared/secrets.py): before
  # collect serves, then refreshed in the background every SECRETS_CACHE_SECONDS. A value added
  # or rotated with gcloud is in use within 5 minutes without a redeploy, and a secret without
  # a version never stops an instance from starting (it is "not configured").
  secret_refs = merge(
    {
      for s in var.secret_names :
      "SECRET_${s}" => "projects/${var.project_id}/secrets/${google_secret_manager_secret.this[s].secret_id}/versions/latest"
    },
    var.edge_auth_secret_id == null ? {} : {
      SECRET_EDGE_AUTH_SECRETS = "projects/${var.project_id}/secrets/${reverse(split("/", var.edge_auth_secret_id))[0]}/versions/latest"
    },
  )
}

resource "google_cloudfunctions2_function" "this" {
  #checkov:skip=CKV_GCP_124:collect is the public GA4 endpoint: browsers call it directly unless the load balancer fronts it, in which case ingress is ALLOW_INTERNAL_AND_GCLB.
  project     = var.project_id
  location    = var.region
  name        = var.name
  description = "GA4 client: accepts hits on /g/collect and /mp/collect and publishes normalized events."
  labels      = var.labels

  build_config {
    runtime           = var.runtime
    entry_point       = var.entry_point
    service_account   = var.build_service_account
    docker_repository = var.docker_repository
    source {
      storage_source {
        bucket = var.source_bucket
        object = var.source_object
      }
    }
  }

  service_config {
    min_instance_count               = var.scaling.min_instance_count
    max_instance_count               = var.scaling.max_instance_count
    max_instance_request_concurrency = var.scaling.max_instance_request_concurrency
    available_cpu                    = var.scaling.available_cpu
    available_memory                 = var.scaling.available_memory
    timeout_seconds                  = var.scaling.timeout_seconds
    ingress_settings                 = var.ingress_settings
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.this.email

    # The cookie keeper's settings and salt reference exist only when it is on (cookie_keeper.tf).
    environment_variables = merge(local.settings, local.secret_refs, local.cookie_keeper_settings, local.cookie_keeper_secret_refs)
  }

  lifecycle {
    precondition {
      condition     = var.body_read_seconds < var.scaling.timeout_seconds
      error_message = "collect_body_read_seconds must be below collect.timeout_seconds: Cloud Run would cut the request before collect answers 408."
    }
  }

  depends_on = [
    google_pubsub_topic_iam_member.publishes_events,
    google_secret_manager_secret_iam_member.reads_own_secrets,
    google_secret_manager_secret_iam_member.reads_edge_auth,
    google_secret_manager_secret_iam_member.reads_cookie_keeper_salt,
    google_project_iam_member.cookie_keeper_store,
  ]
}

# Browsers call collect directly (or through the load balancer, which does not authenticate).
resource "google_cloud_run_v2_service_iam_member" "public" {
  #checkov:skip=CKV_GCP_102:collect is the public GA4 endpoint that every visitor's browser calls; it checks measurement IDs, origins and sizes itself.
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.this.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}
