"""Docstring parts shared by the taggers (filled in by ``Substitution``)."""

#: The taggers' ``on_interrupt`` parameter entry (filled in by ``Substitution``).
ON_INTERRUPT_PARAM = """
on_interrupt : {"raise", "stop"}, default="raise"
    What a KeyboardInterrupt (Ctrl-C) during training does. ``"raise"``: it
    propagates out of ``fit`` and leaves the tagger unfitted, so a half-trained
    model is never mistaken for a finished one. ``"stop"``: training stops there
    and the tagger keeps the weights of that moment, with a warning (skorch's
    behaviour). A callback's request to stop (``EarlyStopping``) ends training
    normally either way.
"""

#: The taggers' "Notes" docstring section (filled in by ``Substitution``).
THREADS_NOTES = """
Notes
-----
Fits running at once in several threads are independent. Each builds its network
holding a process-wide lock, from torch's global generator seeded with its own seed
and put back afterwards; its training draws dropout masks and batch order from
generators private to the fit. The GRU's inter-layer dropout (``num_layers > 1``
and ``dropout > 0``) can only draw from the global generator, so its forward pass
holds the lock with the fit's private state swapped in. With an int
``random_state`` a fit gives bit-identical probabilities on the CPU whatever other
sktriplet fits run in other threads or processes (user guide, "Reproducibility and
threads").
"""
