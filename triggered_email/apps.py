from django.apps import AppConfig


class TriggeredEmailConfig(AppConfig):
    """The project itself: commands that span every app (seed_demo, run_local)."""

    name = "triggered_email"
    verbose_name = "Triggered Email"

    def ready(self) -> None:
        from django_q.signals import post_execute_in_worker, post_spawn, pre_execute

        from delivery import heartbeats, pacemaker
        from triggered_email import lane_processes
        from triggered_email.startup_gc import freeze_startup_objects

        # Lane processes end with the lane's main process; the transactional lane sweeps
        # every few seconds (delivery.pacemaker).
        lane_processes.note_main_process()
        post_spawn.connect(lane_processes.watch_parents, dispatch_uid="lane-parent-watch")
        pre_execute.connect(lane_processes.task_started, dispatch_uid="lane-task-started")
        post_execute_in_worker.connect(lane_processes.task_ended, dispatch_uid="lane-task-ended")
        post_spawn.connect(pacemaker.start, dispatch_uid="sweep-pacemaker")
        # Every worker of every lane shows it is alive (/readyz, /metrics, manage.py status).
        post_spawn.connect(heartbeats.start, dispatch_uid="lane-heartbeat")

        # Here the admin has imported every app's admin module (it comes first in
        # INSTALLED_APPS): most of what the web server and the lanes run is loaded. The web
        # server freezes again once its URLs are loaded (triggered_email.wsgi).
        freeze_startup_objects()
