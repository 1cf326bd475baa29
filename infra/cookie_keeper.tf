# ---------------------------------------------------------------------------------------------
# Cookie keeper (docs/first-party.md "Cookie keeper"): off unless var.cookie_keeper.mode is
# restore_only or keep. Then: a Firestore database of its own (Native mode, so no clash with a
# project's existing "(default)" database in Datastore mode), a TTL policy on expire_at, and a
# generated salt in Secret Manager. collect's access (roles/datastore.user on this database
# only) and its settings are in modules/ingest_function/cookie_keeper.tf.
# ---------------------------------------------------------------------------------------------

locals {
  cookie_keeper_on         = var.cookie_keeper.mode != "off"
  cookie_keeper_database   = "tagging-cookie-keeper"
  cookie_keeper_collection = "cookie_keeper"
}

resource "google_firestore_database" "cookie_keeper" {
  #checkov:skip=CKV_GCP_137:identifier cookie values, salted keys; Google-managed encryption is enough and CMEK would add a KMS key per deploy.
  count = local.cookie_keeper_on ? 1 : 0

  project     = var.project_id
  name        = local.cookie_keeper_database
  location_id = var.region
  type        = "FIRESTORE_NATIVE"
  # Records are recreated by the next hits: losing them only costs restores.
  delete_protection_state = "DELETE_PROTECTION_DISABLED"
  deletion_policy         = "DELETE"

  depends_on = [time_sleep.apis_ready]
}

# Firestore deletes a record once its expire_at has passed (typically within 24 h): a visitor
# not seen for COOKIE_KEEPER_TTL_DAYS leaves nothing behind. No index on the field: the keeper
# only reads by document ID, and an index on a growing timestamp would cost writes.
resource "google_firestore_field" "cookie_keeper_expire_at" {
  count = local.cookie_keeper_on ? 1 : 0

  project    = var.project_id
  database   = google_firestore_database.cookie_keeper[0].name
  collection = local.cookie_keeper_collection
  field      = "expire_at"

  ttl_config {}
  index_config {}
}

# The cookie values are never queried either: no automatic single-field indexes on them.
resource "google_firestore_field" "cookie_keeper_cookies" {
  count = local.cookie_keeper_on ? 1 : 0

  project    = var.project_id
  database   = google_firestore_database.cookie_keeper[0].name
  collection = local.cookie_keeper_collection
  field      = "cookies"

  index_config {}
}

# The salt of the store keys (sha256(salt || client id)): generated here, handed to collect
# through Secret Manager like the edge secret. Replacing it orphans every record (they expire).
resource "random_password" "cookie_keeper_salt" {
  count = local.cookie_keeper_on ? 1 : 0

  length  = 48
  special = false
}

resource "google_secret_manager_secret" "cookie_keeper_salt" {
  count = local.cookie_keeper_on ? 1 : 0

  project   = var.project_id
  secret_id = "COOKIE_KEEPER_SALT"
  # Not labelled app=server-side-tagging: make deploy lists those for the operator to fill,
  # and this one Terraform fills itself.
  labels = var.labels

  replication {
    auto {}
  }

  depends_on = [time_sleep.apis_ready]
}

resource "google_secret_manager_secret_version" "cookie_keeper_salt" {
  count = local.cookie_keeper_on ? 1 : 0

  secret      = google_secret_manager_secret.cookie_keeper_salt[0].id
  secret_data = random_password.cookie_keeper_salt[0].result
}
