terraform {
  required_version = ">= 1.9"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 8.7"
    }
    # time_sleep: Google APIs that are eventually consistent (see the waits in main.tf).
    time = {
      source  = "hashicorp/time"
      version = "~> 0.13"
    }
  }
}
