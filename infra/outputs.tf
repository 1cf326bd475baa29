output "collect_url" {
  description = "The URL to put in the GA4 tag's server_container_url: https://<domain> with a domain, collect's own URL without."
  value       = coalesce(module.custom_domain.url, module.collect.uri)
}

output "collect_run_url" {
  description = "collect's own run.app URL (with the load balancer, ingress allows only the load balancer)."
  value       = module.collect.uri
}

output "dns_records" {
  description = "The DNS records to create for the domain (A record to the load balancer's IP, or the domain mapping's records)."
  value       = module.custom_domain.dns_records
}

output "vendors" {
  description = "The deployed vendors: function, service account (what the owner grants access to in vendors that use Google identities, e.g. googleads), subscriptions, replay topic and attribute filter."
  value = {
    for name, m in module.vendor : name => {
      function        = m.function_name
      service_account = m.service_account_email
      subscriptions   = m.subscription_names
      replay_topic    = m.replay_topic
      filter          = m.filter
    }
  }
}

output "secrets" {
  description = "Secret Manager secrets and whether they hold a value: add one with `printf %s VALUE | gcloud secrets versions add ID --data-file=-`. collect and the vendor functions pick it up within 5 minutes, without a redeploy."
  value = {
    for id in concat(module.collect.secret_ids, flatten([for m in values(module.vendor) : m.secret_ids])) :
    id => contains(var.provisioned_secrets, id) ? "set" : "no value yet"
  }
}

output "dead_letter_subscription" {
  description = "Where dead letters wait for inspection and replay."
  value       = module.event_bus.dead_letter_subscription_name
}

output "event_archive_table" {
  description = "The raw event archive in BigQuery, or null."
  value       = module.event_bus.archive_table
}

output "delivery_ledger_table" {
  description = "The delivery ledger table in BigQuery (docs/ledger.md), or null."
  value       = var.enable_delivery_ledger ? module.delivery_ledger[0].table : null
}
