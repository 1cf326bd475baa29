/**
 * One vendor: its function (internal ingress, invoked only by the push identity), its own
 * service account (reads its own secrets, nothing else), its secrets, and two push
 * subscriptions to it: <vendor>-push on the events topic (attribute filter from the vendor's
 * events) and <vendor>-replay-push on its replay topic tagging-replay-<vendor>, both with OIDC,
 * exponential retry and dead-lettering after max_delivery_attempts.
 * In batch mode (delivery = "batch") <vendor>-push is replaced by the pull subscription
 * <vendor>-pull that the function drains (batch.tf; the scheduler is modules/batch_drain).
 */

locals {
  slug       = replace(var.vendor, "_", "-")
  events_env = length(var.events) > 0 ? { "${upper(var.vendor)}_EVENTS" = join(",", var.events) } : {}
  # Secrets are read at runtime (shared/secrets.py), so a value added or rotated later
  # reaches the running function within SECRETS_CACHE_SECONDS, and a secret without a
  # version never stops a deploy: the vendor runs dry until it has one.
  secret_refs = {
    for s in var.secrets : "SECRET_${s}" => "projects/${var.project_id}/secrets/${s}/versions/latest"
  }
  # Pub/Sub names must not start with "goog" (googleads): such vendors' subscriptions are
  # named vendor-<name>-* (devstack/names.py does the same).
  sub_base     = startswith(var.vendor, "goog") ? "vendor-${var.vendor}" : var.vendor
  subscription = "${local.sub_base}-push"
  replay_topic = "tagging-replay-${var.vendor}"
}

resource "google_service_account" "this" {
  project      = var.project_id
  account_id   = "tag-vendor-${local.slug}"
  display_name = "Runs the ${var.vendor} vendor function (reads its own secrets only)"
}

# Values are added outside Terraform (`gcloud secrets versions add`), so they never reach the
# state or the repository.
resource "google_secret_manager_secret" "this" {
  for_each = toset(var.secrets)

  project   = var.project_id
  secret_id = each.value
  # make deploy finds the secrets by this label to see which ones hold a value.
  labels = merge(var.labels, { vendor = local.slug, app = "server-side-tagging" })

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

resource "google_cloudfunctions2_function" "this" {
  project     = var.project_id
  location    = var.region
  name        = "vendor-${local.slug}"
  description = "Delivers events from Pub/Sub to ${var.vendor}."
  labels      = merge(var.labels, { vendor = local.slug })

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
    # Pub/Sub push in the same project counts as internal traffic.
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.this.email

    environment_variables = merge(var.settings, local.events_env, local.secret_refs, {
      MAX_DELIVERY_ATTEMPTS = tostring(var.max_delivery_attempts)
      GOOGLE_CLOUD_PROJECT  = var.project_id
      THREADS               = tostring(var.scaling.max_instance_request_concurrency)
      SECRETS_BACKEND       = "secretmanager"
    }, local.batch_env)
  }

  lifecycle {
    precondition {
      condition     = tonumber(lookup(var.settings, "${upper(var.vendor)}_TIMEOUT_SECONDS", "10")) < var.scaling.timeout_seconds
      error_message = "${upper(var.vendor)}_TIMEOUT_SECONDS must be below vendor_functions.timeout_seconds (${var.scaling.timeout_seconds} s), the push ack deadline: otherwise Pub/Sub retries deliveries that are still in flight."
    }
  }

  depends_on = [google_secret_manager_secret_iam_member.reads_own_secrets]
}

# Only the push identity may invoke the vendor function; there is no public invoker.
resource "google_cloud_run_v2_service_iam_member" "push_invokes" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.this.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${var.push_service_account}"
}

resource "google_pubsub_topic" "replay" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption; a customer-managed key (and the service agent's KMS grant) is an organisation choice, not a default of this stack.
  project = var.project_id
  name    = local.replay_topic
  labels  = merge(var.labels, { vendor = local.slug })
}

locals {
  # subscription name => (topic, filter). Replayed messages were already filtered once.
  subscriptions = merge(
    var.delivery == "push" ? { (local.subscription) = { topic = var.events_topic_id, filter = var.filter } } : {},
    { "${local.sub_base}-replay-push" = { topic = google_pubsub_topic.replay.id, filter = "" } },
  )
}

resource "google_pubsub_subscription" "push" {
  for_each = local.subscriptions

  project = var.project_id
  name    = each.key
  topic   = each.value.topic
  filter  = each.value.filter
  labels  = merge(var.labels, { vendor = local.slug })

  # Pub/Sub waits this long for the push response: at least the function's timeout, which is
  # above the vendor HTTP timeout, so a slow vendor is not retried while still in flight.
  ack_deadline_seconds       = var.scaling.timeout_seconds
  message_retention_duration = "604800s"

  push_config {
    push_endpoint = google_cloudfunctions2_function.this.service_config[0].uri
    oidc_token {
      service_account_email = var.push_service_account
      audience              = google_cloudfunctions2_function.this.service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = "${var.minimum_backoff_seconds}s"
    maximum_backoff = "${var.maximum_backoff_seconds}s"
  }

  dead_letter_policy {
    dead_letter_topic     = var.dead_letter_topic_id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = "" # a quiet vendor must not lose its subscription
  }

  lifecycle {
    precondition {
      condition     = length(each.value.filter) <= 256
      error_message = "The attribute filter of ${each.key} is ${length(each.value.filter)} bytes; Pub/Sub allows 256. Shorten the vendor's events list in config/vendors.yaml."
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.push_invokes]
}

# Dead-lettering: the Pub/Sub service agent must be able to acknowledge on the source subscription.
resource "google_pubsub_subscription_iam_member" "service_agent_dead_letters" {
  for_each = google_pubsub_subscription.push

  project      = var.project_id
  subscription = each.value.name
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${var.pubsub_service_agent}"
}
