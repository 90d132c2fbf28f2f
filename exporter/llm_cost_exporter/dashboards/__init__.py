"""Generate the Grafana dashboards from dashboards/ and push them to Grafana's HTTP API."""
