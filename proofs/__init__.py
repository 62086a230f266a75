"""Proofs of the claims of CLAIMS.md, one module per claim (installed as tensoralg.proofs)."""
