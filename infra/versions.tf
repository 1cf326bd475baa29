terraform {
  # 1.9+: variable validations that refer to other variables (domain_mode needs domain).
  required_version = ">= 1.9"

  # One major of each provider: two clones (or a teammate's machine) resolve the same major,
  # whatever the registry holds. The lock file infra/.terraform.lock.hcl written by the first
  # `make deploy` pins the exact build; commit it in your deployment repository.
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 8.7"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "~> 8.7"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.4"
    }
    time = {
      source  = "hashicorp/time"
      version = "~> 0.13"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # State lives in a versioned bucket <project>-tagging-tfstate that `make deploy` creates
  # once (infra/deploy.sh passes bucket and prefix to `terraform init -backend-config`).
  backend "gcs" {}
}
