# The smallest deployment: collect on its own run.app URL (or behind your own CDN with
# same-origin path routing, docs/deploy.md), the vendors of config/vendors.yaml, no domain.
#
#   terraform init && terraform apply -var project_id=my-project

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

variable "region" {
  description = "The region of the functions."
  type        = string
  default     = "europe-west1"
}

provider "google" {
  project = var.project_id
  region  = var.region
}

module "tagging" {
  source = "../../"

  project_id  = var.project_id
  region      = var.region
  domain_mode = "none"
}

output "collect_url" {
  description = "Put this in the GA4 tag's server_container_url."
  value       = module.tagging.collect_url
}
