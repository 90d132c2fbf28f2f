"""Shared building blocks of the LLM cost dashboards.

`settings` loads the selectors, windows and thresholds that the alert rules also use,
`queries` contains every PromQL expression, `variables` the template variables, `grafana`
is the only module that imports grafanalib, and `common` adds what every dashboard
shares (links, alert annotations, the data source variable).
"""
