"""Dask distributed peer: a LocalCluster of 2 worker processes with 1 thread each; measures and prints
one JSON object on stdout.

  python3 dask_peer.py overhead TASKS LATENCY_SAMPLES
      throughput: client.map of a no-op over TASKS items, then gather; latency: LATENCY_SAMPLES
      sequential client.submit(noop).result(), each timed.
  python3 dask_peer.py wordcount CORPUS_DIR SHARDS
      map: one count per byte-range shard; reduce: a merge task; timed from submission to result.
"""
import json
import logging
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import wordcount_shard  # noqa: E402  (workers import it by name too)


def noop(_=None):
    return None


def percentile(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def main():
    from dask.distributed import Client, LocalCluster

    os.environ["PYTHONPATH"] = HERE + os.pathsep + os.environ.get("PYTHONPATH", "")
    mode = sys.argv[1]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        client.gather(client.map(noop, range(200), pure=False))  # warm-up
        if mode == "overhead":
            tasks, samples = int(sys.argv[2]), int(sys.argv[3])
            start = time.perf_counter()
            client.gather(client.map(noop, range(tasks), pure=False))
            elapsed = time.perf_counter() - start
            latencies = []
            for _ in range(samples):
                t = time.perf_counter()
                client.submit(noop, pure=False).result()
                latencies.append(time.perf_counter() - t)
            latencies.sort()
            print(json.dumps({"tasks": tasks, "elapsed_s": elapsed, "latency_p50_ms": percentile(latencies, 0.5) * 1000,
                              "latency_p99_ms": percentile(latencies, 0.99) * 1000}))
        else:
            corpus, shards = sys.argv[2], int(sys.argv[3])
            start = time.perf_counter()
            parts = wordcount_shard.split(wordcount_shard.corpus_files(corpus), shards)
            partials = client.map(wordcount_shard.count_segments, parts, pure=False)
            result = client.submit(wordcount_shard.merge, partials, pure=False).result()
            elapsed = time.perf_counter() - start
            print(json.dumps({"elapsed_s": elapsed, "total_words": result["total_words"],
                              "distinct_words": result["distinct_words"]}))


if __name__ == "__main__":
    main()
