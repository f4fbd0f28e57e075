# State lives in S3, one object per deployment. The configuration is partial: the bucket, key and region are
# given at init, so one copy of this module serves every account and environment:
#
#   terraform init -backend-config=backend.hcl    # backend.hcl: see backend.hcl.example
#
# The state bucket is created once, outside this module (it cannot hold its own state): versioned,
# encrypted, public access blocked.
terraform {
  backend "s3" {
    # S3 native state locking: a <key>.tflock object written with a conditional PUT, no DynamoDB table.
    use_lockfile = true
    # Server-side encryption of the state object (SSE-S3, or SSE-KMS with kms_key_id in backend.hcl).
    encrypt = true
  }
}
