"""The Celery app the bench's Celery worker runs: Redis as broker and result backend (ORCH_BENCH_REDIS)."""
import os

from celery import Celery

import wordcount_shard

app = Celery("orch_bench", broker=os.environ["ORCH_BENCH_REDIS"], backend=os.environ["ORCH_BENCH_REDIS"])
app.conf.update(
    task_serializer="json",  # Celery's default; a worker running as root refuses pickle
    result_serializer="json",
    accept_content=["json"],
    result_expires=600,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task
def noop():
    return None


@app.task
def count(segments):
    return dict(wordcount_shard.count_segments(segments))  # a Counter travels as a JSON object


@app.task
def merge(partials):
    return wordcount_shard.merge(partials)
