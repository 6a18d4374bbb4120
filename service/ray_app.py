"""The same FastAPI app as a Ray Serve deployment, for clusters: `serve run service.ray_app:app`,
or `serve deploy deploy/serve.yaml`, or the KubeRay RayService in deploy/.

Each replica builds the whole app (its own catalog, workers and batching) from the AESERVE_*
settings, so batching works inside every replica as in a single process; Ray's proxy spreads the
requests over the replicas and, with AESERVE_RAY_MAX_REPLICAS above AESERVE_RAY_REPLICAS,
autoscales between the two.
"""

from __future__ import annotations

from typing import Any

from ray import serve
from ray.serve import Application

from service.app import create_app
from service.settings import Settings


def deployment(settings: Settings | None = None) -> Application:
    settings = settings or Settings()
    options: dict[str, Any] = {"ray_actor_options": {"num_gpus": settings.ray_gpus_per_replica}}
    if settings.ray_max_replicas > settings.ray_replicas:
        options["autoscaling_config"] = {
            "min_replicas": settings.ray_replicas,
            "initial_replicas": settings.ray_replicas,
            "max_replicas": settings.ray_max_replicas,
            "target_ongoing_requests": settings.ray_target_ongoing_requests,
        }
    else:
        options["num_replicas"] = settings.ray_replicas
    # the app itself sheds (503) past the work it can do in time, so Ray need not hold requests back
    options["max_ongoing_requests"] = settings.ray_max_ongoing_requests

    class AEServe:
        """A replica: the ingress below builds the app on it, lifespan included."""

    replica = serve.ingress(lambda: create_app(settings))(AEServe)
    return serve.deployment(name="aeserve", **options)(replica).bind()


app = deployment()
