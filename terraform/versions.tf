terraform {
  # terraform-aws-modules/eks v21 needs Terraform 1.5.7+ and AWS provider 6; the S3 backend's native
  # locking (use_lockfile, backend.tf) needs Terraform 1.10+.
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.28"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.38"
    }
  }
}
