"""The pipeline benchmark: Switchboard against the transport's own limit.

    switchboard bench [--calls 5000] [--partitions 6] [--json] [--profile] [--compare-log-level]
                      [--no-webhooks] [--webhook-connections 100]
                      [--no-ring] [--ring-rates 10,100] [--ring-duration 15]
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
3. **bare look-up**: the database look-up the lookup service did for each call before it
   took batches (`ClientBase.find_caller`, now the batch's statement for one caller), in a
   loop, at --lookup-concurrency (1).
4. **reference chains** (not for the targets; --no-references leaves them out): the
   baseline's four hops taking whole fetched batches and committing once per batch (Kafka's
   own limit when nothing is done per message), and the same hops as FastStream subscribers
   that pass the bytes on, plain and with the services' broker (`shared.kafka.make_broker`):
   what the framework costs without the pipeline's work.
5. **webhook intake** (--no-webhooks leaves it out): the pipeline fed through the intake's
   `POST /v1/pbx/generic` instead of pbx.events, each request signed as a connector signs it,
   by a closed loop of --webhook-connections kept-alive connections: accepted calls/s (2xx),
   errors by status, the HTTP answer time, and the calls decided end to end (calls.routed);
6. **ring-time answers** (--no-ring leaves them out): `GET /v1/route/asterisk` with basic auth
   at each of --ring-rates (10 and 100 calls/s) for --ring-duration seconds, open loop, to
   the same running intake, with bench/ring's client base (--ring-clients, seeded into the
   same database), load generator and figures: answer p50/p99/p99.9 from when each request
   was due, decided / fallback / wrong / errors.

The verdict has the two targets against the baseline and issue 16's on this machine
(bench.pipeline.report): pipeline >= 2,000 calls/s; webhook intake >= 1,000 calls/s with no
error; ring-time answer p50 <= 20 ms at 10 calls/s and p99 <= 50 ms at 100 calls/s.

Latency is from the PBX event's publication (the load generator's send) to the consume of
the call's record on bench.hop4, calls.routed and leads.assigned by a watcher in this process
(same clock). Throughput is calls / (last call done - first call published). CPU is measured
with psutil: CPU seconds of the service (or hop) processes, the broker and the database per
1,000 calls, and the machine's utilisation (with what other processes used meanwhile).

--profile adds a pipeline run at the maximum rate under py-spy (raw collapsed stacks in
`.switchboard/bench/profiles/`, open them in https://www.speedscope.app), and with the webhook
intake a webhook run under py-spy too (in `profiles/webhook/`), and prints where each service
spends its CPU. --compare-log-level adds one with the services at log level WARNING.

The modules: `options` (the command's options, declared once), `runner` (the run, part by
part), `client_base` (what the pipeline runs against), `load` (the calls and their rate),
`hops` (the chains of hops, each hop a process), `watch` (one measured part: feed, watch,
summarise), `webhooks` (the webhook intake's load and figures), `ring_answers` (a ring-time
part, with bench/ring's pieces), `cpu` (psutil), `broker` (topics, consumer lag), `lookup`
(the bare look-up), `profiling` (py-spy), `report` (the verdict and the printed report).
"""
