# collect's side of the cookie keeper (docs/first-party.md "Cookie keeper"): its settings, its
# salt secret and its access to the keeper's Firestore database. Nothing when it is off.

locals {
  cookie_keeper_on = var.cookie_keeper.mode != "off"
  cookie_keeper_settings = local.cookie_keeper_on ? {
    COOKIE_KEEPER            = var.cookie_keeper.mode
    COOKIE_KEEPER_COOKIES    = join(",", var.cookie_keeper.cookies)
    COOKIE_KEEPER_TTL_DAYS   = tostring(var.cookie_keeper.ttl_days)
    COOKIE_KEEPER_TIMEOUT_MS = tostring(var.cookie_keeper.timeout_ms)
    COOKIE_KEEPER_DATABASE   = var.cookie_keeper_database
    COOKIE_KEEPER_COLLECTION = var.cookie_keeper_collection
  } : {}
  cookie_keeper_secret_refs = var.cookie_keeper_salt_secret_id == null ? {} : {
    SECRET_COOKIE_KEEPER_SALT = "projects/${var.project_id}/secrets/${reverse(split("/", var.cookie_keeper_salt_secret_id))[0]}/versions/latest"
  }
}

resource "google_secret_manager_secret_iam_member" "reads_cookie_keeper_salt" {
  count = var.cookie_keeper_salt_secret_id == null ? 0 : 1

  project   = var.project_id
  secret_id = var.cookie_keeper_salt_secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.this.member
}

# Read and write documents of the keeper's database only (IAM condition on its name), not
# every Firestore database of the project.
resource "google_project_iam_member" "cookie_keeper_store" {
  count = local.cookie_keeper_on ? 1 : 0

  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.this.member

  condition {
    title       = "cookie-keeper-database-only"
    description = "collect may use the cookie keeper's Firestore database and no other."
    expression  = "resource.name == \"projects/${var.project_id}/databases/${var.cookie_keeper_database}\""
  }
}
