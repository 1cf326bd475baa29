# ---------------------------------------------------------------------------------------------
# Abuse controls and the edge secret in front of collect (load-balancer mode)
# ---------------------------------------------------------------------------------------------

locals {
  behind_load_balancer = var.domain_mode == "load_balancer"
  # Behind the load balancer X-Forwarded-For ends "<visitor>,<lb>" (one trusted hop); behind
  # Cloud Run's own front end it ends "<visitor>" (none).
  trusted_proxy_hops = coalesce(var.trusted_proxy_hops, local.behind_load_balancer ? "1" : "none")
  security_policy    = var.security_policy != null ? var.security_policy : (local.behind_load_balancer && var.cloud_armor.enabled ? module.cloud_armor[0].self_link : null)
}

module "cloud_armor" {
  source = "./modules/cloud_armor"
  count  = local.behind_load_balancer && var.cloud_armor.enabled && var.security_policy == null ? 1 : 0

  project_id           = var.project_id
  requests             = var.cloud_armor.requests
  interval_seconds     = var.cloud_armor.interval_seconds
  ban_duration_seconds = var.cloud_armor.ban_duration_seconds
  preview              = var.cloud_armor.preview

  depends_on = [time_sleep.apis_ready]
}

# The value the load balancer adds as X-Edge-Auth and collect checks before it trusts the geo
# headers. Generated here (it is in the Terraform state, like every value Terraform sets) and
# handed to collect through Secret Manager. Rotate with `terraform apply -replace=random_password.edge_auth`.
resource "random_password" "edge_auth" {
  count = local.behind_load_balancer ? 1 : 0

  length  = 48
  special = false
}

resource "google_secret_manager_secret" "edge_auth" {
  count = local.behind_load_balancer ? 1 : 0

  project   = var.project_id
  secret_id = "EDGE_AUTH_SECRETS"
  # Not labelled app=server-side-tagging: make deploy lists those for the operator to fill,
  # and this one Terraform fills itself.
  labels = var.labels

  replication {
    auto {}
  }

  depends_on = [time_sleep.apis_ready]
}

resource "google_secret_manager_secret_version" "edge_auth" {
  count = local.behind_load_balancer ? 1 : 0

  secret      = google_secret_manager_secret.edge_auth[0].id
  secret_data = random_password.edge_auth[0].result
}
