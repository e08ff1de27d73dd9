// Package deploy holds the packaging of otelcol-msgtrace (Dockerfile, systemd unit, Kubernetes
// manifests, the configuration they share) and the tests that check them: the manifests decoded
// strictly into the Kubernetes API types, the unit with systemd-analyze, every shipped
// configuration with the built binary. It is its own module so that the Kubernetes API types
// stay out of the distribution's dependencies; `make check-deploy` runs it.
package deploy
