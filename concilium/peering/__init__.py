"""A signed peer exchange over HTTP, shared by oracle nodes and committee members.

Every call, reads included, carries a signature by the caller's key over (realm, method, path,
timestamp, nonce, body hash); the server checks it against a membership callback (the oracle's
registry, the committee's Safe owners), refuses stale timestamps, replayed nonces, bodies over a
cap and callers over their rate. One implementation, two users: the oracle's answer exchange
(`concilium.oracle.peers`) and the committee's commit-reveal.

    envelope.py   what is signed and how (sign / recover)
    guard.py      the server side: PeerGuard.check(...) -> the authenticated peer, or Refused
    server.py     FastAPI glue: a body-size limit and the `peer` dependency
    client.py     PeerClient: signed GET/POST to a list of peers
    commitreveal.py  commit, then reveal: one participant's exchange as a state machine (pure)
"""
