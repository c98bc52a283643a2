"""REST resources that span apps: the monitor resource (with its channels, open incident,
checks, stats and SLA) and status pages. Single-app resources stay in their app."""
