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
  injected_secrets = [for s in var.secret_names : s if contains(var.provisioned_secrets, s)]
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

    environment_variables = {
      EVENTS_TOPIC            = var.events_topic_name
      GOOGLE_CLOUD_PROJECT    = var.project_id
      IP_TRUNCATION           = var.ip_truncation # privacy.ip_truncation (docs/privacy.md)
      ALLOWED_MEASUREMENT_IDS = join(",", var.allowed_measurement_ids)
      ALLOWED_ORIGINS         = join(",", var.allowed_origins)
      COOKIE_DOMAIN           = var.cookie_domain
      # X-Forwarded-For entries our own proxies append after the visitor's (shared/ga4/context.py).
      TRUSTED_PROXY_HOPS = var.trusted_proxy_hops
      # functions-framework sizes its worker pool from THREADS: match the concurrency.
      THREADS = tostring(var.scaling.max_instance_request_concurrency)
    }

    dynamic "secret_environment_variables" {
      for_each = toset(local.injected_secrets)
      content {
        key        = secret_environment_variables.value
        project_id = var.project_id
        secret     = google_secret_manager_secret.this[secret_environment_variables.value].secret_id
        version    = "latest"
      }
    }

    # The load balancer's X-Edge-Auth value: only with it are geo headers trusted.
    dynamic "secret_environment_variables" {
      for_each = var.edge_auth_secret_id == null ? [] : [var.edge_auth_secret_id]
      content {
        key        = "EDGE_AUTH_SECRETS"
        project_id = var.project_id
        secret     = reverse(split("/", secret_environment_variables.value))[0]
        version    = "latest"
      }
    }
  }

  depends_on = [
    google_pubsub_topic_iam_member.publishes_events,
    google_secret_manager_secret_iam_member.reads_own_secrets,
    google_secret_manager_secret_iam_member.reads_edge_auth,
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
