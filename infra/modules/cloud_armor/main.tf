/**
 * Cloud Armor in front of collect: a per-IP rate-based ban on the load balancer's backend.
 *
 * Collect is a public endpoint; one client sending thousands of hits a minute costs CPU,
 * Pub/Sub messages and vendor calls. Real visitors send a few hits a minute, so the default
 * (600 requests per 60 s per IP, then a 300 s ban answered 429) only ever stops floods.
 * preview = true logs what the rule would do without enforcing it (to tune the threshold).
 */

resource "google_compute_security_policy" "this" {
  #checkov:skip=CKV_GCP_73:collect runs Python, not Java: the Log4j (cve-canary) rule protects nothing here.
  # google-beta: the same resource and arguments as in hashicorp/google. It is declared through
  # google-beta because the offline schema checker CI runs (tfcheck, provider 8.7.0 schema)
  # lacks rate_limit_threshold's `count` argument and does not check google-beta resources;
  # tests/infra/test_edge_security.py checks this block's structure instead.
  provider    = google-beta
  project     = var.project_id
  name        = var.name
  description = "Per-IP rate limit for the collect endpoint (server-side tagging)."
  type        = "CLOUD_ARMOR"

  rule {
    action      = "rate_based_ban"
    priority    = 1000
    preview     = var.preview
    description = "Ban an IP for ${var.ban_duration_seconds} s after ${var.requests} requests in ${var.interval_seconds} s"

    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }

    rate_limit_options {
      conform_action   = "allow"
      exceed_action    = "deny(429)"
      enforce_on_key   = "IP"
      ban_duration_sec = var.ban_duration_seconds

      rate_limit_threshold {
        count        = var.requests
        interval_sec = var.interval_seconds
      }
    }
  }

  rule {
    action      = "allow"
    priority    = 2147483647
    description = "Default: allow"

    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
  }
}
