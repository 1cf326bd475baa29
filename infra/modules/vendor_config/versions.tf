terraform {
  # Pure expressions over files: no provider, so tests evaluate it offline (terraform console).
  required_version = ">= 1.9"
}
