# Production shape: track.example.com on a global external HTTPS load balancer with a
# Google-managed certificate (about $18/month before traffic), an allow-list of measurement
# IDs and origins, one warm collect instance, alerts by email and the raw event archive.
#
#   terraform init && terraform apply -var project_id=my-project -var domain=track.example.com
#   then create the A record printed in dns_records; the certificate turns ACTIVE within an hour.

terraform {
  required_version = ">= 1.9"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.14, < 9"
    }
  }
}

variable "project_id" {
  description = "The Google Cloud project to deploy into."
  type        = string
}

variable "domain" {
  description = "The tracking subdomain, e.g. track.example.com."
  type        = string
}

variable "alert_email" {
  description = "Where alerts go."
  type        = string
  default     = ""
}

provider "google" {
  project = var.project_id
  region  = "europe-west1"
}

module "tagging" {
  source = "../../"

  project_id              = var.project_id
  region                  = "europe-west1"
  domain                  = var.domain
  domain_mode             = "load_balancer"
  allowed_measurement_ids = ["G-XXXXXXXXXX"]
  allowed_origins         = ["https://www.example.com"]
  cookie_domain           = "example.com"
  alert_email             = var.alert_email
  enable_event_archive    = true

  collect = {
    min_instance_count = 1
    max_instance_count = 50
  }
}

output "collect_url" {
  description = "Put this in the GA4 tag's server_container_url."
  value       = module.tagging.collect_url
}

output "dns_records" {
  description = "Create these at your DNS provider."
  value       = module.tagging.dns_records
}
