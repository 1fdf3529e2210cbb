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
  messages    commit, reveal and signature messages; the commitment hash; round ids (pure)
  store       a member's trail of rounds (every vote, the agreed action, signatures, tx hashes)
  inbox       what a member holds from its peers per round, checked on arrival
  peers       the member's routes and client over the signed peer exchange (concilium.peering)
  metrics     a member's Prometheus counters
  member      CommitteeMember: one round per slot, commit -> reveal -> canonicalise -> sign -> submit
  agent_member the agent side: the spec's model plans, its tools build, its guard judges as the Safe
  config      the YAML `committees:` block made concrete (guard config, member settings)
  network     LocalCommittee: deploy and run n members in one process (tests, demo, benchmark)
  sdk         Committee: the SDK and CLI entry (deploy, member, status)
"""
