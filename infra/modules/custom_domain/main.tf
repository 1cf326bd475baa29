/**
 * The custom domain in front of collect, one of:
 *  - load_balancer: global external Application Load Balancer, serverless NEG, Google-managed
 *    certificate, HTTP->HTTPS redirect. About $18/month for the forwarding rules before
 *    traffic; required for Cloud Armor and for serving from a fixed anycast IP.
 *  - domain_mapping: Cloud Run domain mapping. Free; only in regions that support it.
 *  - none: nothing here; use collect's own URL or route a path of the site to it
 *    (docs/deploy.md, "Same-origin path routing").
 */

locals {
  lb      = var.mode == "load_balancer" ? 1 : 0
  mapping = var.mode == "domain_mapping" ? 1 : 0

  geo_headers = [
    "X-Client-Geo-Country:{client_region}",
    "X-Client-Geo-Region:{client_region_subdivision}",
    "X-Client-Geo-City:{client_city}",
  ]
  edge_auth_header = var.edge_auth_secret == "" ? [] : ["X-Edge-Auth:${var.edge_auth_secret}"]
  # Google tag routes (shared/first_party/scripts.py) go to the script backend, which always
  # adds geo (region-specific tag settings; the gateway's X-Forwarded-CountryRegion).
  script_paths = concat(
    ["/gtm.js", "/gtag/*", "/ns.html"],
    var.script_alias_paths,
    var.gateway_path == "" ? [] : [var.gateway_path, "${var.gateway_path}/*"],
  )
}

resource "google_compute_global_address" "this" {
  count = local.lb

  project = var.project_id
  name    = "${var.name_prefix}-ip"
}

resource "google_compute_region_network_endpoint_group" "this" {
  count = local.lb

  project               = var.project_id
  region                = var.region
  name                  = "${var.name_prefix}-collect-neg"
  network_endpoint_type = "SERVERLESS"

  cloud_run {
    service = var.service_name
  }
}

resource "google_compute_backend_service" "this" {
  count = local.lb

  project               = var.project_id
  name                  = "${var.name_prefix}-collect"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  protocol              = "HTTPS"
  security_policy       = var.security_policy

  # The visitor's geo as the load balancer sees it, and the secret that proves to collect
  # these headers came from here: collect trusts geo headers only with X-Edge-Auth
  # (shared/ga4/context.py), since a client can send any header. Custom headers are billed
  # per request: hit_geo_headers = false leaves them off the hits (the script backend below
  # keeps them).
  custom_request_headers = concat(
    var.hit_geo_headers ? local.geo_headers : [],
    local.edge_auth_header,
  )

  backend {
    group = google_compute_region_network_endpoint_group.this[0].id
  }

  log_config {
    enable      = true
    sample_rate = 0.01 # collect logs every hit itself; 1% of LB logs is enough to debug routing
  }
}

# The same collect service behind a second backend service that adds the geo headers on the
# script routes only, as Google's sGTM region-specific settings guide does (first-party
# reference §1.1): custom headers are billed per million requests, scripts are few.
resource "google_compute_backend_service" "scripts" {
  count = local.lb

  project               = var.project_id
  name                  = "${var.name_prefix}-collect-scripts"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  protocol              = "HTTPS"
  security_policy       = var.security_policy

  custom_request_headers = concat(local.geo_headers, local.edge_auth_header)

  backend {
    group = google_compute_region_network_endpoint_group.this[0].id
  }

  log_config {
    enable      = true
    sample_rate = 0.01
  }
}

resource "google_compute_url_map" "https" {
  count = local.lb

  project         = var.project_id
  name            = "${var.name_prefix}-https"
  default_service = google_compute_backend_service.this[0].id

  host_rule {
    hosts        = ["*"]
    path_matcher = "collect"
  }

  path_matcher {
    name            = "collect"
    default_service = google_compute_backend_service.this[0].id

    path_rule {
      paths   = local.script_paths
      service = google_compute_backend_service.scripts[0].id
    }

    # Gateway hits are collect's own ingestion (the hit backend); the longest path wins.
    dynamic "path_rule" {
      for_each = var.gateway_path == "" ? [] : [var.gateway_path]
      content {
        paths   = ["${path_rule.value}/g/collect"]
        service = google_compute_backend_service.this[0].id
      }
    }
  }
}

# The name carries a hash of the domain: a new DOMAIN creates a new certificate next to the
# old one (create_before_destroy), moves the proxy to it, then deletes the old one. With a
# fixed name the create would fail with 409 alreadyExists.
resource "google_compute_managed_ssl_certificate" "this" {
  count = local.lb

  project = var.project_id
  name    = "${var.name_prefix}-cert-${substr(sha256(var.domain), 0, 8)}"

  managed {
    domains = [var.domain]
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "google_compute_ssl_policy" "this" {
  count = local.lb

  project         = var.project_id
  name            = "${var.name_prefix}-tls"
  profile         = "MODERN"
  min_tls_version = "TLS_1_2"
}

resource "google_compute_target_https_proxy" "this" {
  count = local.lb

  project          = var.project_id
  name             = "${var.name_prefix}-https"
  url_map          = google_compute_url_map.https[0].id
  ssl_certificates = [google_compute_managed_ssl_certificate.this[0].id]
  ssl_policy       = google_compute_ssl_policy.this[0].id
}

resource "google_compute_global_forwarding_rule" "https" {
  count = local.lb

  project               = var.project_id
  name                  = "${var.name_prefix}-https"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.this[0].id
  port_range            = "443"
  target                = google_compute_target_https_proxy.this[0].id
  labels                = var.labels
}

# Plain HTTP only redirects to HTTPS.
resource "google_compute_url_map" "redirect" {
  count = local.lb

  project = var.project_id
  name    = "${var.name_prefix}-http-redirect"

  default_url_redirect {
    https_redirect         = true
    redirect_response_code = "MOVED_PERMANENTLY_DEFAULT"
    strip_query            = false
  }
}

resource "google_compute_target_http_proxy" "redirect" {
  count = local.lb

  project = var.project_id
  name    = "${var.name_prefix}-http-redirect"
  url_map = google_compute_url_map.redirect[0].id
}

resource "google_compute_global_forwarding_rule" "http" {
  count = local.lb

  project               = var.project_id
  name                  = "${var.name_prefix}-http"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.this[0].id
  port_range            = "80"
  target                = google_compute_target_http_proxy.redirect[0].id
  labels                = var.labels
}

resource "google_cloud_run_domain_mapping" "this" {
  count = local.mapping

  project  = var.project_id
  location = var.region
  name     = var.domain

  metadata {
    namespace = var.project_id
    labels    = var.labels
  }

  spec {
    route_name = var.service_name
  }
}
