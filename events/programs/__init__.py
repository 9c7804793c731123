"""Automation programs: an external event starts a run per contact that waits, checks
conditions and sends mail streams, step by step. Models, conditions, running the steps, handing
runs to the workers, the periodic pick-up and the admin.

A subpackage of the `events` app, not an app: the models keep app_label `events` and its tables.
"""
