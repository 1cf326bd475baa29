output "url" {
  description = "https://<domain>, or null with mode = \"none\"."
  value       = var.mode == "none" ? null : "https://${var.domain}"
}

output "ip_address" {
  description = "The load balancer's IPv4 address (load_balancer mode only)."
  value       = local.lb == 1 ? google_compute_global_address.this[0].address : null
}

output "dns_records" {
  description = "The DNS records to create at your DNS provider for the domain."
  value = concat(
    local.lb == 1 ? [{ name = var.domain, type = "A", rrdata = google_compute_global_address.this[0].address }] : [],
    local.mapping == 1 ? [
      for r in try(google_cloud_run_domain_mapping.this[0].status[0].resource_records, []) :
      { name = coalesce(r.name, var.domain), type = r.type, rrdata = r.rrdata }
    ] : [],
  )
}
