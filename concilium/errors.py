"""Errors a user can cause or fix. Each carries a one-line message that says what to do;
the CLI prints it without a traceback and exits non-zero."""


class ConciliumError(Exception):
    """Base for every error the user can act on."""

    exit_code = 1


class SpecError(ConciliumError):
    """The YAML is wrong. `problems` lists every error with its path and line."""

    exit_code = 2

    def __init__(self, problems: list[str], source: str = "spec"):
        self.problems = problems
        head = f"{source}: {len(problems)} error(s)"
        super().__init__(head + "\n" + "\n".join(f"  {p}" for p in problems))


class StackError(ConciliumError):
    """A local process (anvil, vLLM) or a bundled file is missing or failed to start."""


class ChainError(ConciliumError):
    """Every RPC endpoint failed, or the chain rejected a request."""


class TxRejected(ChainError):
    """The node refused a transaction (bad nonce, insufficient funds...): it was not sent."""


class ModelUnavailable(ConciliumError):
    """The model server did not answer."""


class ModelRefused(ModelUnavailable):
    """The model server answered, refusing this request (HTTP 400): the prompt, not the server, is
    at fault, so trying again will not help. `too_long`: beyond the model's context window."""

    def __init__(self, message: str, too_long: bool = False):
        super().__init__(message)
        self.too_long = too_long


class WalletError(ConciliumError):
    """A wallet could not be loaded (missing keystore, wrong password, dev account on a real chain)."""


class CommitteeError(ConciliumError):
    """A committee's Safe is not what the YAML says, a quorum is short, or the Safe or its guard refused."""


class StoreError(ConciliumError):
    """The state database URL is wrong, or the database cannot be reached or read."""
