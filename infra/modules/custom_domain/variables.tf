variable "project_id" {
  description = "The project of the load balancer or domain mapping."
  type        = string
}

variable "region" {
  description = "The region of collect (serverless NEG and domain mapping live there)."
  type        = string
}

variable "mode" {
  description = "load_balancer (global external HTTPS LB + serverless NEG + managed certificate), domain_mapping (Cloud Run domain mapping) or none."
  type        = string
  validation {
    condition     = contains(["load_balancer", "domain_mapping", "none"], var.mode)
    error_message = "mode must be one of load_balancer, domain_mapping, none."
  }
}

variable "domain" {
  description = "The tracking subdomain, e.g. track.example.com."
  type        = string
  default     = ""
}

variable "service_name" {
  description = "The Cloud Run service behind the domain (a Cloud Run function's service has the function's name)."
  type        = string
}

variable "security_policy" {
  description = "Optional Cloud Armor security policy (self link) for the load balancer's backend."
  type        = string
  default     = null
}

variable "name_prefix" {
  description = "Prefix of the load balancer's resource names."
  type        = string
  default     = "tagging"
}

variable "labels" {
  description = "Labels for every resource that takes them."
  type        = map(string)
  default     = {}
}

variable "edge_auth_secret" {
  description = "Value of the X-Edge-Auth request header the load balancer adds; collect trusts the geo headers only when it matches (EDGE_AUTH_SECRETS). Empty: no X-Edge-Auth, so collect ignores geo."
  type        = string
  default     = ""
  sensitive   = true
}

variable "hit_geo_headers" {
  description = "Add the geo headers (X-Client-Geo-*) on collect's hit backend too. They fill each event's location for vendors (docs/privacy.md \"Geo\"); custom request headers are billed per request, so false saves that on every hit. The script backend always adds them."
  type        = bool
  default     = true
}

variable "script_alias_paths" {
  description = "Alias paths of the Google tag (TAG_ALIASES keys) routed, with /gtm.js, /gtag/* and /ns.html, to the script backend service that adds geo headers."
  type        = list(string)
  default     = []
}

variable "gateway_path" {
  description = "SCRIPT_GATEWAY_PATH: the Google tag gateway path (e.g. /metrics) routed to the script backend service; its /g/collect hits go to the hit backend. Empty: no gateway."
  type        = string
  default     = ""
}
