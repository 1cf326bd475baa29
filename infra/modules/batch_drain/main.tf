/**
 * Batch mode's clock: one Cloud Scheduler job per batch-mode vendor calls the vendor
 * function's POST /drain with an OIDC token of its own identity, which may invoke that
 * function and nothing else. Idle cost: the job (3 free jobs per billing account, then
 * $0.10 a month each) and one short invocation per tick.
 */

locals {
  slug = replace(var.vendor, "_", "-")
}

resource "google_service_account" "scheduler" {
  project      = var.project_id
  account_id   = "tag-drain-${local.slug}"
  display_name = "Cloud Scheduler identity that drains the ${var.vendor} vendor function"
}

resource "google_cloud_run_v2_service_iam_member" "scheduler_invokes" {
  project  = var.project_id
  location = var.region
  name     = var.function_name
  role     = "roles/run.invoker"
  member   = google_service_account.scheduler.member
}

resource "google_cloud_scheduler_job" "drain" {
  project     = var.project_id
  region      = var.region
  name        = "drain-${local.slug}"
  description = "Drains ${var.vendor}'s pull subscription into its batch API (docs/batch.md)."
  schedule    = var.schedule
  time_zone   = "Etc/UTC"
  # The drain answers within drain_seconds plus one last batch; the scheduler waits that long.
  attempt_deadline = "${var.drain_seconds + 30}s"

  retry_config {
    # No scheduler retries: the next tick is the retry, and undelivered messages wait in
    # the subscription meanwhile.
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = "${trimsuffix(var.function_uri, "/")}/drain"

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = var.function_uri
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.scheduler_invokes]
}
