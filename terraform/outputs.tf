output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "Endpoint of the EKS API server."
  value       = module.eks.cluster_endpoint
}

output "configure_kubectl" {
  description = "Command that writes a kubeconfig entry for the cluster (run it before any kubectl/helm step)."
  value       = "aws eks update-kubeconfig --region ${var.region} --name ${module.eks.cluster_name}"
}

output "oidc_provider_arn" {
  description = "ARN of the cluster's OIDC provider (IRSA)."
  value       = module.eks.oidc_provider_arn
}

output "api_role_arn" {
  description = "IRSA role of the API ServiceAccount (annotation eks.amazonaws.com/role-arn in helm/fraudlake-api)."
  value       = module.workload_irsa["api"].arn
}

output "airflow_role_arn" {
  description = "IRSA role of the Airflow ServiceAccounts (helm/values/airflow.yaml)."
  value       = module.workload_irsa["airflow"].arn
}

output "connect_role_arn" {
  description = "IRSA role of the Kafka Connect ServiceAccount (connect.serviceAccountAnnotations in helm/fraudlake-kafka)."
  value       = module.workload_irsa["connect"].arn
}

output "clickhouse_role_arn" {
  description = "IRSA role of the ClickHouse ServiceAccount (serviceAccount.annotations in helm/fraudlake-clickhouse): s3() reads of the lake."
  value       = module.workload_irsa["clickhouse"].arn
}

output "scorer_role_arn" {
  description = "IRSA role of every pipeline's scorer ServiceAccount (the operator chart's scorer.serviceAccountAnnotations): reads models/; trusts the ServiceAccounts in service_accounts.scorer."
  value       = module.workload_irsa["scorer"].arn
}

output "load_balancer_controller_role_arn" {
  description = "IRSA role of the AWS Load Balancer Controller (serviceAccount annotation of its Helm release)."
  value       = module.load_balancer_controller_irsa.arn
}

output "vpc_id" {
  description = "ID of the VPC (the Load Balancer Controller's vpcId)."
  value       = module.vpc.vpc_id
}

output "lake_bucket" {
  description = "Name of the lake bucket (raw Parquet under <prefix>/raw/, models under models/)."
  value       = aws_s3_bucket.lake.id
}

output "ecr_repository_urls" {
  description = "ECR repository URL per image (push the Dockerfile.* builds here)."
  value       = { for name, repo in aws_ecr_repository.images : name => repo.repository_url }
}

output "ecr_registry" {
  description = "ECR registry host, for `aws ecr get-login-password | docker login --username AWS --password-stdin <registry>`."
  value       = "${local.account_id}.dkr.ecr.${var.region}.amazonaws.com"
}

output "region" {
  description = "AWS region of the deployment."
  value       = var.region
}
