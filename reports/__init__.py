"""Read models that span apps: stats and SLA from rollups and incidents, status pages, badges."""
