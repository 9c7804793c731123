"""Integrations: a third-party system's own webhook (Shopify, Stripe, any HMAC-signing sender)
posts to `/hooks/<slug>/` and triggers an external event. Models, the receiving of a call
(signature, mapping, logging), presets, the webhook endpoint, the admin and the call log's purge.

A subpackage of the `events` app, not an app: the models keep app_label `events` and its tables.
"""
