"""The desk's live-event benchmark: how soon a ringing call's card reaches the operators'
browsers, with many browsers' event streams connected (issue 15: 200 browsers, 50 calls/s,
the card within 1 s p99 of the PBX event).

    switchboard desk-bench [--browsers 200] [--rate 50] [--duration 30] [--warmup 10]
                           [--ring-seconds 10] [--json] [--profile]

One run, on one Kafka broker and one PostgreSQL database: the ones SWITCHBOARD_KAFKA_BOOTSTRAP
and SWITCHBOARD_DATABASE_URL name, else its own, started under `.switchboard/desk-bench` and
stopped at the end (also on Ctrl-C and SIGTERM), with bench.stack (shared with the ring-time
benchmark). Everything listens on 127.0.0.1.

1. **the stack**: intake (with a connector for the run), lookup, router, assignment
   (--no-assignment leaves it out) and the desk as processes, the routing rules open 24/7;
   their consumer groups drained before anything else (an earlier run's backlog, the
   desk's included, is not this run's load);
2. **the client base**: bench.ring's seed, 10,000 clients (--clients), three in ten owned;
3. **the browsers**: --browsers new operators (client department agents; one in ten reads
   English), each with a desk session the access store opens as the sign-in does; each
   browser draws the operator's page and holds its event stream open (`GET
   /operator/events`, httpx streaming, one connection each, the session cookie as a browser
   sends it), and notes when each call's card first reaches it;
4. **the load**: calls to the general line, open loop at --rate calls/s, as an Asterisk
   connector posts them (`POST /v1/pbx/asterisk`, an AMI `Newchannel` as JSON, signed), each
   one's send time stamped, and --ring-seconds later the caller's `Hangup`, which takes the
   card off; the callers are unknown numbers (one in ten) and clients without an owner whose
   calls ring the client department, so every call rings at the desk and every operator is
   entitled to its card (bench.desk.expected). --warmup seconds of calls first, then
   --duration seconds measured, on one schedule; then up to --settle seconds for the last
   cards.

It prints the browsers connected (and the desk's own count), the calls sent and accepted, the
card events expected (calls x browsers entitled), received and missing, the latency from the
PBX event to the card event at the browser (p50 / p95 / p99 / max; a missing event counts as
later than any), split at the call's calls.enriched record (its Kafka timestamp) into the
pipeline's part (itself split at calls.received: the intake's, the lookup's) and the desk's,
the spread between the first and the last browser of one
card, how late the benchmark's own event loop ran, the CPU of every process over the measured
part, and whether p99 <= 1 s held. --json prints the figures (also written to
`.switchboard/desk-bench/last-run.json`); --profile adds py-spy on the services.

The modules: `options` (the command's options), `runner` (the run), `people` (the operators and
their sessions), `browsers` (the simulated browsers), `load` (the calls and their schedule),
`expected` (who is entitled to which card), `report` (the figures, the verdict, the printed
report).
"""
