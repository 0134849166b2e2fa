#!/usr/bin/env python3
"""How many PostgreSQL shards a Switchboard deployment needs (docs/scaling.md).

Stores (tenants) carry very different loads: the simulation draws each store's runs/s from a Zipf
law (a few stores dominate, most are small), scales the draw to the total load, and places the
stores on shards either by hashing the store id (no directory) or with a directory that puts each
store on the least-loaded shard (largest first). It prints the busiest shard's load: a shard
saturates when that exceeds what one PostgreSQL sustains, however idle the others are.

    scripts/shard-sim.py [--stores 20000] [--zipf 1.1] [--total 100000] [--capacity 15000]
"""
import argparse
import hashlib
import heapq
import random


def loads(stores, zipf, total, seed):
    rng = random.Random(seed)
    ranks = list(range(1, stores + 1))
    rng.shuffle(ranks)
    raw = [1.0 / r**zipf for r in ranks]
    scale = total / sum(raw)
    return [x * scale for x in raw]


def by_hash(load, shards):
    per = [0.0] * shards
    for i, x in enumerate(load):
        h = int.from_bytes(hashlib.sha256(f"st_{i}".encode()).digest()[:8], "big")
        per[h % shards] += x
    return per


def by_directory(load, shards):
    heap = [(0.0, s) for s in range(shards)]
    for x in sorted(load, reverse=True):
        used, s = heapq.heappop(heap)
        heapq.heappush(heap, (used + x, s))
    return [used for used, _ in heap]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--stores", type=int, default=20000)
    p.add_argument("--zipf", type=float, default=1.1)
    p.add_argument("--total", type=float, default=100000, help="runs/s over all stores")
    p.add_argument("--capacity", type=float, default=15000, help="runs/s one PostgreSQL sustains")
    p.add_argument("--seeds", type=int, default=20)
    a = p.parse_args()
    print(f"{a.stores} stores, Zipf {a.zipf}, {a.total:.0f} runs/s in all, {a.capacity:.0f} runs/s per shard")
    first = loads(a.stores, a.zipf, a.total, 0)
    print(f"largest store {max(first):.0f} runs/s ({100 * max(first) / a.total:.1f} % of all)")
    print("shards   busiest shard, runs/s (worst of seeds)   hash     directory")
    for shards in (2, 4, 8, 12, 16, 24, 32):
        worst_hash = worst_dir = 0.0
        for seed in range(a.seeds):
            load = loads(a.stores, a.zipf, a.total, seed)
            worst_hash = max(worst_hash, max(by_hash(load, shards)))
            worst_dir = max(worst_dir, max(by_directory(load, shards)))
        fits = lambda x: "fits" if x <= a.capacity else "OVER"
        print(f"{shards:>6}   {'':37}{worst_hash:>7.0f} {fits(worst_hash):4}  {worst_dir:>7.0f} {fits(worst_dir)}")


if __name__ == "__main__":
    main()
