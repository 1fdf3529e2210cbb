"""Committees: several independent agents behind one Safe (`@safe-global/safe-contracts` 1.4.1).

Layers, each importing only the ones before it:
  safetx      the SafeTx value and its EIP-712 hash (pure)
  signatures  owners' signatures over that hash: sign, recover, pack sorted by owner (pure)
  reverts     the Safe's GSxxx codes and CommitteeGuard's errors as one-line reasons (pure)
  guard       CommitteeGuard's configuration and an onchain reader/checker
  safe        a Safe on a chain: read and check its state, execute a quorum's SafeTx
  deploy      the local deployment: Safe singleton, proxy factory, handler, a Safe, its guard
  canonical   members' revealed decisions -> at most one agreed action (pure)
  round       one member's round as a state machine: states, events, transition table (pure)

Members (their own process, model and key), commit-reveal over the peer exchange and the YAML
`committee:` block sit on top of these and are not here yet.
"""
