"""National portal connector use cases: the dossiers heard of, their sync, the operators'
refused list and resends, and the reconciliation per unit."""
