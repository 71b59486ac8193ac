"""Celery 5 peer for the Redis benchmarks: starts a prefork worker (concurrency 2) on the given Redis,
measures, stops it and prints one JSON object on stdout.

  python3 celery_peer.py overhead REDIS_URL TASKS LATENCY_SAMPLES
      throughput: TASKS x noop.delay(), then wait for every result (ResultSet.join_native);
      latency: LATENCY_SAMPLES sequential noop.delay().get(), each timed.
  python3 celery_peer.py wordcount REDIS_URL CORPUS_DIR SHARDS
      a chord: one count task per byte-range shard, then a merge task; timed from submission to result.
"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def start_worker(redis_url):
    env = dict(os.environ, ORCH_BENCH_REDIS=redis_url, PYTHONPATH=HERE)
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_tasks", "worker", "--pool", "prefork", "--concurrency", "2",
         "--loglevel", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", "bench@%h"],
        cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=sys.stderr)


def percentile(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def main():
    mode, redis_url = sys.argv[1], sys.argv[2]
    os.environ["ORCH_BENCH_REDIS"] = redis_url
    sys.path.insert(0, HERE)
    import celery_tasks
    from celery import chord
    from celery.result import ResultSet

    worker = start_worker(redis_url)
    try:
        # Wait until the worker takes tasks, and warm it up (both pool processes).
        for _ in range(200):
            if worker.poll() is not None:
                sys.exit(f"the Celery worker exited with {worker.returncode}")
            celery_tasks.noop.delay().get(timeout=60)
        if mode == "overhead":
            tasks, samples = int(sys.argv[3]), int(sys.argv[4])
            start = time.perf_counter()
            results = ResultSet([celery_tasks.noop.delay() for _ in range(tasks)])
            results.join_native(timeout=600)
            elapsed = time.perf_counter() - start
            latencies = []
            for _ in range(samples):
                t = time.perf_counter()
                celery_tasks.noop.delay().get(timeout=60)
                latencies.append(time.perf_counter() - t)
            latencies.sort()
            print(json.dumps({"tasks": tasks, "elapsed_s": elapsed, "latency_p50_ms": percentile(latencies, 0.5) * 1000,
                              "latency_p99_ms": percentile(latencies, 0.99) * 1000}))
        else:
            import wordcount_shard
            corpus, shards = sys.argv[3], int(sys.argv[4])
            start = time.perf_counter()
            parts = wordcount_shard.split(wordcount_shard.corpus_files(corpus), shards)
            result = chord(celery_tasks.count.s(p) for p in parts)(celery_tasks.merge.s()).get(timeout=3600)
            elapsed = time.perf_counter() - start
            print(json.dumps({"elapsed_s": elapsed, "total_words": result["total_words"],
                              "distinct_words": result["distinct_words"]}))
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


if __name__ == "__main__":
    main()
