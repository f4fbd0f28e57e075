"""Fraudlake: a Kubernetes-operator-managed lakehouse for real-time card-fraud detection."""

__version__ = "0.1.0"
