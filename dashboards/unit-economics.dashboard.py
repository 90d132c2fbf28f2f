"""Unit economics: the axes that explain why cost moved (tokens, price, calls, cache, retries)."""

from llm_dashboards import common, queries as q, variables
from llm_dashboards.common import CALLS, PER_SECOND, RATIO, USD
from llm_dashboards.grafana import DashboardSpec, Step, row, timeseries
from llm_dashboards.settings import Settings

UID = "llm-cost-unit-economics"


def build(settings: Settings) -> DashboardSpec:
    template_variables = variables.standard(settings, "feature", "intent")
    s = q.Scope(settings, variables.names(template_variables))
    drift = settings.multiplicity_max_increase
    window = settings.multiplicity_window
    multiplicity_runbook = common.runbook(settings, "LLMCallMultiplicityDrift")
    cache_runbook = common.runbook(settings, "LLMCacheHitRatioDrop")
    cache_group = ", ".join(settings.cache_group_by)
    anomaly_group = ", ".join(settings.anomaly_group_by)
    drift_group = ", ".join(settings.multiplicity_group_by)
    retry_group = ", ".join(settings.retry_group_by)

    tokens = row(
        "Tokens",
        timeseries(
            "Tokens per second by intent and token type",
            "Where the tokens go: input, cache reads, cache writes and output of each intent. "
            "Output tokens are priced several times higher than input tokens by most vendors.",
            [q.tokens_by_type(s, "intent")],
            PER_SECOND,
            stacked=True,
        ),
        timeseries(
            "Output tokens per prompt token by intent",
            "Output tokens as a share of prompt tokens (input, cache read and cache write). "
            "A jump means longer answers or more reasoning for the same prompts.",
            [q.output_per_input_token(s, "intent")],
            RATIO,
        ),
    )

    price = row(
        "Price",
        timeseries(
            "Mean cost per request by intent",
            "The blended price of one request of each intent: request cost over request count. "
            "It moves with model choice, prompt length, calls per request and cache hits.",
            [q.mean_cost_per_request_by(s, "intent")],
            USD,
            width=8,
        ),
        timeseries(
            f"Mean cost per request by {anomaly_group}, now and one week earlier",
            f"Mean cost per request over the last {settings.anomaly_window}, now and at the same time one week "
            "earlier (dashed), per group of the cost-per-request anomaly alert. The alert fires when the line "
            "leaves the band of the last week's mean and spread.",
            q.cost_per_request_against_last_week(s),
            USD,
            styles=[common.LAST_WEEK],
            links=[common.runbook(settings, "LLMCostPerRequestAnomaly")],
            width=8,
        ),
        timeseries(
            "Price per million tokens by model",
            "What each model costs per million tokens of all types, after cache discounts. "
            "A change without a price change means the token mix shifted.",
            [q.price_per_million_tokens(s)],
            USD,
            width=8,
        ),
    )

    calls = row(
        "Calls per request",
        timeseries(
            f"Model calls per request by {drift_group} (mean over {window})",
            "How many model calls one request makes, now and one week earlier. "
            "Agent loops and retries show here first.",
            q.calls_per_request(s, "llm_request_model_calls"),
            CALLS,
            styles=[common.LAST_WEEK],
            links=[multiplicity_runbook],
            width=8,
        ),
        timeseries(
            f"Tool calls per request by {drift_group} (mean over {window})",
            "How many tool calls one request makes, now and one week earlier.",
            q.calls_per_request(s, "llm_request_tool_calls"),
            CALLS,
            styles=[common.LAST_WEEK],
            links=[multiplicity_runbook],
            width=8,
        ),
        timeseries(
            "Change of calls per request against one week earlier",
            f"Relative change of mean calls per request against the same {window} one week earlier. "
            f"Above +{drift:.0%} (and at least {settings.multiplicity_min_increase_calls:g} more calls) the "
            "call-multiplicity alert opens a ticket.",
            [
                q.calls_per_request_change(s, "llm_request_model_calls", legend_prefix="model calls "),
                q.calls_per_request_change(s, "llm_request_tool_calls", legend_prefix="tool calls "),
            ],
            RATIO,
            steps=[Step(drift, "red")],
            links=[multiplicity_runbook],
            width=8,
        ),
    )

    cache = row(
        "Prompt cache",
        timeseries(
            "Cache-hit ratio",
            "Share of prompt tokens served from the prompt cache (cache reads over input, cache read "
            f"and cache write tokens), over the last {settings.cache_fast_window}, the last "
            f"{settings.cache_week_window}, and the same {settings.cache_week_window} one week earlier.",
            q.cache_hit_ratio(s),
            RATIO,
            styles=[common.LAST_WEEK],
            links=[cache_runbook],
            width=6,
        ),
        timeseries(
            f"Cache-hit ratio change week over week by {cache_group}",
            f"Cache-hit ratio over the last {settings.cache_week_window} minus the same window one week earlier, "
            f"in ratio points. Below -{settings.cache_week_max_drop:.0%} the cache-hit alert opens a ticket.",
            [q.cache_hit_ratio_week_over_week(s)],
            RATIO,
            base_color="red",
            steps=[Step(-settings.cache_week_max_drop, "green")],
            links=[cache_runbook],
            width=6,
        ),
        timeseries(
            f"Cache-hit ratio, last {settings.cache_fast_window} against last {settings.cache_fast_baseline_window}",
            f"Cache-hit ratio of the last {settings.cache_fast_window} minus that of the last "
            f"{settings.cache_fast_baseline_window}, in ratio points: catches a cache broken today. "
            f"Below -{settings.cache_fast_max_drop:.0%} the cache-hit alert opens a ticket.",
            [q.cache_hit_ratio_hour_over_day(s)],
            RATIO,
            base_color="red",
            steps=[Step(-settings.cache_fast_max_drop, "green")],
            links=[cache_runbook],
            width=6,
        ),
        timeseries(
            f"Distinct prompt prefixes by feature (last {settings.prefix_window})",
            "How many different cacheable prompt prefixes each feature sent. A jump usually means "
            "something variable, such as a timestamp, entered the system prompt and broke caching.",
            [q.prompt_prefixes(s)],
            "short",
            links=[common.runbook(settings, "LLMPromptPrefixChurn")],
            width=6,
        ),
    )

    retries = row(
        "Retries",
        timeseries(
            "Retry cost per hour by error class",
            "What failed attempts that were retried cost, by the error class of the failure.",
            [q.retry_cost_per_hour(s)],
            USD,
            stacked=True,
            width=8,
        ),
        timeseries(
            f"Retry cost as a share of spend by {retry_group}",
            f"Retry cost of each error class over the last {settings.retry_window} as a share of the spend of its "
            f"{retry_group}. Above {settings.retry_max_share:.0%} the retry-cost alert opens a ticket.",
            [q.retry_cost_share(s)],
            RATIO,
            steps=[Step(settings.retry_max_share, "red")],
            links=[common.runbook(settings, "LLMRetryCostHigh")],
            width=8,
        ),
        timeseries(
            "Retries per second by error class",
            "How often calls are retried, by the error class of the attempt they retry. "
            "Rate limits retried without backoff multiply both the calls and the cost.",
            [q.retries_per_second(s)],
            PER_SECOND,
            stacked=True,
            width=8,
        ),
    )

    return common.spec(
        settings,
        UID,
        "Why cost per request moved: token mix by intent, price per request and per token, "
        "calls per request, prompt-cache hits and retries.",
        template_variables,
        [tokens, price, calls, cache, retries],
    )
