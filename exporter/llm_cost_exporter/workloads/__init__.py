"""Workload simulator and production-trace importer: sources of native gateway log lines.

- `profile`: the workload profile (features, intents, cohorts, errors, caching) as data.
- `generator`: turns a profile over time into request records.
- `timeline`, `scenarios`: the profile as a function of event time, and named failures.
- `output`: JSON-lines writing in batch or paced in wall-clock time.
- `traces`: conversion of the Mooncake and Azure LLM inference traces.
"""
