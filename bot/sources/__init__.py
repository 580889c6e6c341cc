"""Mailbox sources: they fetch bytes and mark them done after the commit, nothing else."""
