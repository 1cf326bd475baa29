/**
 * Reads config/vendors.yaml and discovers the vendor folders. A vendor is deployed when it has
 * an entry (enabled unless `enabled: false`) and a folder functions/vendors/<name>/main.py.
 * Entries without a folder are reported in `missing_folders` (the root fails the plan on them).
 */

locals {
  config = yamldecode(file(var.config_file))

  folders = toset([for f in fileset(var.vendors_dir, "*/main.py") : dirname(f)])

  # An entry may be empty (`meta:`) and any key may be missing: try() turns "missing or null"
  # into the default without unifying types.
  entries = try({ for name, entry in local.config.vendors : name => entry }, {})

  # `transformations:` (docs/privacy.md): every vendor function gets the whole list as JSON in
  # <VENDOR>_TRANSFORMATIONS and applies the rules in its scope, exactly as `make run` passes
  # them; the function validates them at start-up (and `make deploy` before planning).
  transformations_count = try(length(local.config.transformations), 0)
  transformations_json  = local.transformations_count == 0 ? "" : jsonencode(local.config.transformations)
  ip_truncation         = try(lower(tostring(local.config.privacy.ip_truncation)), "")

  delivery_defaults = { max_delivery_attempts = 100, minimum_backoff_seconds = 10, maximum_backoff_seconds = 600 }
  delivery          = try(merge(local.delivery_defaults, local.config.delivery.cloud), local.delivery_defaults)

  # Batch mode (delivery.batch): pull size, the cloud schedule and how long a drain pulls.
  batch_defaults = { max_messages = 1000, schedule = "* * * * *", drain_seconds = 50 }
  batch = {
    max_messages  = tonumber(try(local.config.delivery.batch.max_messages, local.batch_defaults.max_messages))
    schedule      = tostring(try(local.config.delivery.batch.cloud.schedule, local.batch_defaults.schedule))
    drain_seconds = tonumber(try(local.config.delivery.batch.cloud.drain_seconds, local.batch_defaults.drain_seconds))
  }

  vendors = {
    for name, entry in local.entries : name => {
      events = try([for e in entry.events : tostring(e)], [])
      # push (default) or batch: see modules/vendor_function/batch.tf.
      delivery = try(tostring(entry.delivery), "push")
      # The push subscription's attribute filter; empty (every event) without an events list.
      filter = join(" OR ", [for e in try(entry.events, []) : "attributes.event_name = \"${e}\""])
      # Secret names as the code reads them (shared/secrets.py): <VENDOR>_<NAME>. Both
      # `ACCESS_TOKEN` and `META_ACCESS_TOKEN` under meta mean META_ACCESS_TOKEN, which is
      # also the Secret Manager secret's ID and the environment variable's name.
      secrets = try([
        for s in entry.secrets : startswith(tostring(s), "${upper(name)}_") ? tostring(s) : "${upper(name)}_${s}"
      ], [])
      # settings -> <VENDOR>_<SETTING>; empty values are left out, as `make run` does.
      settings = merge(try({
        for key, value in entry.settings :
        "${upper(name)}_${key}" => tostring(value) if value != null && tostring(value) != ""
        }, {}), local.transformations_count == 0 ? {} : {
        "${upper(name)}_TRANSFORMATIONS" = local.transformations_json
      })
    } if try(entry.enabled, true) == true && contains(local.folders, name)
  }

  missing_folders = sort([for name in keys(local.entries) : name if !contains(local.folders, name)])
  all_secrets     = flatten([for v in values(local.vendors) : v.secrets])
}
