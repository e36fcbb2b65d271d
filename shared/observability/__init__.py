"""What ops teams see of a running service: Prometheus metrics (`metrics`, `lag`),
OpenTelemetry traces (`tracing`) and structured logs (`logs`). `shared.kafka.make_broker`
puts the broker middlewares in place and `shared.app` serves `/metrics` and configures logs
and tracing, so services need nothing.
"""
