"""Runtime: state machine, persistence, services, the `pathway` command."""
