"""`manage.py faults`: the fault suite against a real stack (issue 25, docs/reliability.md)."""
