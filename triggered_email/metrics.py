"""The product's Prometheus metrics, read from the database at scrape time.

Why not counters incremented where things happen: the work is done by many processes (gunicorn
workers, each lane's forked workers, on several hosts), and a counter in each would need
prometheus_client's multiprocess mode (a shared directory per host, files left by dead workers,
and still one series per host to sum). The database already holds the truth, so one scrape of
any web process reads it: the outbox's waiting rows (partial indexes, delivery.queue_depth), the
dashboard's daily rollups for what became of the messages (delivery.rollups; they survive the
retention purge), and small bounded queries for the rest. Totals from the rollups are exposed as
counters; one can fall when a failed message is resent and then counts as sent, which Prometheus
reads as a counter reset (rate() stays right).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector


class ProductCollector(Collector):
    """Collects on every scrape; describe() keeps registration free of queries."""

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        from delivery import heartbeats, queue_depth
        from delivery.queue import LANES
        from streams.models import MailStream

        now = timezone.now()
        names = dict(MailStream.objects.order_by().values_list("id", "name"))

        def stream(stream_id: int) -> str:
            return names.get(stream_id, str(stream_id))

        queued = GaugeMetricFamily(
            "triggered_email_messages_queued",
            "Messages waiting in the outbox to be sent (including retries not yet due).",
            labels=["lane", "stream"],
        )
        due = GaugeMetricFamily(
            "triggered_email_messages_due",
            "Queued messages whose (re)try time has come.",
            labels=["lane", "stream"],
        )
        oldest = GaugeMetricFamily(
            "triggered_email_oldest_queued_age_seconds",
            "How long the longest-waiting due message has waited.",
            labels=["lane", "stream"],
        )
        held = GaugeMetricFamily(
            "triggered_email_messages_held",
            "Messages held for a paused stream.",
            labels=["lane", "stream"],
        )
        for queue in queue_depth.waiting(now):
            labels = [queue.lane, stream(queue.stream_id)]
            queued.add_metric(labels, queue.queued)
            due.add_metric(labels, queue.due)
            oldest.add_metric(labels, queue.oldest_due_age(now))
            held.add_metric(labels, queue.held)
        yield from (queued, due, oldest, held)

        seen = heartbeats.last_seen()
        silence = GaugeMetricFamily(
            "triggered_email_lane_last_seen_seconds",
            "Seconds since the lane's workers last showed they are alive (-1: never).",
            labels=["lane"],
        )
        for lane in sorted(set(LANES) | set(seen)):
            at = seen.get(lane)
            silence.add_metric([lane], (now - at).total_seconds() if at else -1.0)
        yield silence

        yield from self._outcomes(stream)
        yield from self._recent_events(now)
        yield from self._suppressions()
        yield from self._webhooks(now)

    def _outcomes(self, stream) -> Iterator[Metric]:
        from delivery import rollup_totals

        # Summed from the daily rollups once per refresh (delivery.rollup_totals), so a scrape
        # reads one cached value instead of every day's latency buckets.
        totals = rollup_totals.current()["streams"]
        triggered = CounterMetricFamily(
            "triggered_email_messages_triggered",
            "Messages written to the outbox (rollups: counted in the hour they were triggered).",
            labels=["stream"],
        )
        outcomes = CounterMetricFamily(
            "triggered_email_messages",
            "What became of the messages, by outcome: sent, failed (permanent or out of "
            "retries), skipped (suppressed, missing attachment, discarded), bounced_* (hard, "
            "soft, block).",
            labels=["stream", "outcome"],
        )
        latency = HistogramMetricFamily(
            "triggered_email_trigger_to_sent_seconds",
            "Time from the trigger's arrival to the message's hand-over to the MTA or ESP.",
            labels=["stream"],
        )
        for stream_id, row in totals.items():
            name = stream(int(stream_id))
            triggered.add_metric([name], row.get("triggered", 0))
            for outcome in rollup_totals.OUTCOMES:
                outcomes.add_metric([name, outcome], row.get(outcome, 0))
            if "latency_buckets" in row:
                buckets = [
                    (str(bound), count)
                    for bound, count in zip(
                        rollup_totals.LATENCY_BUCKETS, row["latency_buckets"], strict=True
                    )
                ]
                buckets.append(("+Inf", row["latency_count"]))
                latency.add_metric([name], buckets, row["latency_seconds"])
        yield triggered
        yield outcomes
        yield latency

    def _recent_events(self, now) -> Iterator[Metric]:
        from delivery.models import DeliveryEvent

        # Retries and failures of the last hour, counted through event_type_time_idx: bounded
        # however large the event table grows.
        since = now - timedelta(hours=1)
        recent = GaugeMetricFamily(
            "triggered_email_delivery_events_last_hour",
            "Delivery events of the last hour by type (deferred: transient failure, retried).",
            labels=["type"],
        )
        kinds = (DeliveryEvent.Type.DEFERRED, DeliveryEvent.Type.FAILED, DeliveryEvent.Type.BOUNCED)
        counts = dict.fromkeys(kinds, 0)
        counts.update(
            DeliveryEvent.objects.filter(event_type__in=kinds, occurred_at__gte=since)
            .order_by()
            .values_list("event_type")
            .annotate(n=Count("id"))
        )
        for kind, count in counts.items():
            recent.add_metric([str(kind)], count)
        yield recent

    def _suppressions(self) -> Iterator[Metric]:
        from delivery.models import Suppression

        added = CounterMetricFamily(
            "triggered_email_suppressions",
            "Suppressions in force, by reason (hard bounce, complaint, manual).",
            labels=["reason"],
        )
        counts = dict.fromkeys(Suppression.Reason.values, 0)
        counts.update(Suppression.objects.order_by().values_list("reason").annotate(n=Count("id")))
        for reason, count in counts.items():
            added.add_metric([reason], count)
        yield added

    def _webhooks(self, now) -> Iterator[Metric]:
        from status_webhooks.models import WebhookDelivery, WebhookSubscription

        subscriptions = list(
            WebhookSubscription.objects.order_by("id").values_list(
                "id", "name", "enabled", "failing_since"
            )
        )
        labels = {pk: [str(pk), name] for pk, name, _, _ in subscriptions}
        enabled = GaugeMetricFamily(
            "triggered_email_webhook_subscription_enabled",
            "1 while the subscription gets events; 0 once disabled (by hand, or after five "
            "days of failures).",
            labels=["subscription", "name"],
        )
        failing = GaugeMetricFamily(
            "triggered_email_webhook_failing_seconds",
            "How long the endpoint has failed without a success in between (0: not failing).",
            labels=["subscription", "name"],
        )
        for pk, _, on, since in subscriptions:
            enabled.add_metric(labels[pk], 1.0 if on else 0.0)
            failing.add_metric(labels[pk], (now - since).total_seconds() if since else 0.0)
        yield from (enabled, failing)

        waiting = GaugeMetricFamily(
            "triggered_email_webhook_deliveries_waiting",
            "Events not delivered to the endpoint yet (new, or retrying after a failed attempt).",
            labels=["subscription", "name"],
        )
        failed = CounterMetricFamily(
            "triggered_email_webhook_deliveries_failed",
            "Events the endpoint never took (permanent refusal or retry schedule exhausted); "
            "a redelivery that succeeds lowers it.",
            labels=["subscription", "name"],
        )
        pending, gone = WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED
        for pk in labels:
            # An index-only count over webhook_delivery_sub_idx per subscription (there are
            # few): the delivered rows, nearly all of the table, are never read. 2 ms for 11,000
            # waiting and failed rows among a million (docs/monitoring.md).
            counts = dict(
                WebhookDelivery.objects.filter(subscription_id=pk, status__in=[pending, gone])
                .order_by()
                .values_list("status")
                # Counts a column of the index: COUNT(id) would read every row from the table.
                .annotate(n=Count("status"))
            )
            waiting.add_metric(labels[pk], counts.get(pending, 0))
            failed.add_metric(labels[pk], counts.get(gone, 0))
        yield from (waiting, failed)
