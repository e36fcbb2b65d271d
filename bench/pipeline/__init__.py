"""The pipeline benchmark: Switchboard against the transport's own limit.

    switchboard bench [--calls 5000] [--partitions 6] [--json] [--profile] [--compare-log-level]
    python bench/pipeline_bench.py [the same options]

One run, on one Kafka broker and one PostgreSQL database: the ones SWITCHBOARD_KAFKA_BOOTSTRAP
and SWITCHBOARD_DATABASE_URL name, else its own, started under `.switchboard/bench` and stopped
at the end (also on Ctrl-C). Every part has the same topic partitions, the same payload (a
generic PBX event keyed by the caller number) and the same producer settings (acks=all,
idempotent):

1. **baseline**: a raw aiokafka chain of four consume-and-produce hops without logic,
   bench.hop0 -> bench.hop1 -> ... -> bench.hop4, each hop its own process (as the services
   are) with its own consumer group, handling one record at a time and committing after the
   produce was acknowledged, as FastStream does for the services; at the maximum rate (all
   calls published at once), then at 50% of the rate it reached;
2. **pipeline**: intake, lookup, router and assignment as processes (devstack.Services), fed
   the same way at the maximum rate, then at 50% of the baseline's maximum, with a client base
   of 400 clients, three in four owned (so their calls become the owner's leads; the routing
   rules are the deploy/rules.yaml ones with every department on shift around the clock, so
   the result does not depend on the hour);
3. **bare look-up**: the database look-up the lookup service does for each call
   (`ClientBase.find_caller`), in a loop, at the lookup service's concurrency (one message at
   a time per process: --lookup-concurrency 1).
4. **reference chains** (not for the targets; --no-references leaves them out): the
   baseline's four hops taking whole fetched batches and committing once per batch (Kafka's
   own limit when nothing is done per message), and the same hops as FastStream subscribers
   that pass the bytes on, plain and with the services' broker (`shared.kafka.make_broker`):
   what the framework costs without the pipeline's work.

Latency is from the PBX event's publication (the load generator's send) to the consume of
the call's record on bench.hop4, calls.routed and leads.assigned by a watcher in this process
(same clock). Throughput is calls / (last call done - first call published). CPU is measured
with psutil: CPU seconds of the service (or hop) processes, the broker and the database per
1,000 calls, and the machine's utilisation (with what other processes used meanwhile).

--profile adds a pipeline run at the maximum rate under py-spy (raw collapsed stacks in
`.switchboard/bench/profiles/`, open them in https://www.speedscope.app) and prints where each
service spends its CPU. --compare-log-level adds one with the services at log level WARNING.

The modules: `options` (the command's options, declared once), `runner` (the run, part by
part), `client_base` (what the pipeline runs against), `load` (the calls and their rate),
`hops` (the chains of hops, each hop a process), `watch` (one measured part: feed, watch,
summarise), `cpu` (psutil), `broker` (topics, consumer lag), `lookup` (the bare look-up),
`profiling` (py-spy), `report` (the verdict and the printed report).
"""
