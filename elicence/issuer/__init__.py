"""Issuance use cases: check a request against the catalogue, assign the identifier, seal, store."""

from elicence.issuer.service import BatchItemResult, IssuanceResult, IssuanceService

__all__ = ["BatchItemResult", "IssuanceResult", "IssuanceService"]
