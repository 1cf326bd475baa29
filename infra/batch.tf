# Batch mode (vendors with `delivery: batch` in config/vendors.yaml): a Cloud Scheduler job
# per such vendor drains its pull subscription (modules/vendor_function/batch.tf) through the
# function's POST /drain. See docs/batch.md.

locals {
  batch_vendors = { for name, vendor in local.vendors : name => vendor if vendor.delivery == "batch" }
}

resource "google_project_service" "scheduler" {
  count = length(local.batch_vendors) > 0 ? 1 : 0

  project            = var.project_id
  service            = "cloudscheduler.googleapis.com"
  disable_on_destroy = false
}

module "batch_drain" {
  source   = "./modules/batch_drain"
  for_each = local.batch_vendors

  project_id    = var.project_id
  region        = var.region
  vendor        = each.key
  function_name = module.vendor[each.key].function_name
  function_uri  = module.vendor[each.key].uri
  schedule      = module.vendor_config.batch.schedule
  drain_seconds = module.vendor_config.batch.drain_seconds

  depends_on = [google_project_service.scheduler]
}
