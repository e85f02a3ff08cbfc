"""The two ways a litmus test can fail to run."""


class LitmusError(ValueError):
    """A test the front end cannot read: the message names the test and the construct."""

    def __init__(self, test, construct):
        self.test, self.construct = test, construct
        super().__init__(f"{test}: {construct}")


class Unsupported(Exception):
    """A well-formed test that the model cannot express (EL2, a fault handler, more
    threads than CPUs, ...): the test is skipped with ``reason``."""

    def __init__(self, reason):
        self.reason = reason
        super().__init__(reason)
