// Package deploy holds what an operator installs beside the binaries: the
// systemd units of custosd and of the ministries' always-on signers, the
// drop-in that puts the CA online, the Prometheus alerting rules and the
// auditors' verification script (docs/operating.md). It has no code; its
// tests check that the units keep their hardening, that systemd accepts
// them, and that the alerts name metrics custosd exports.
package deploy
