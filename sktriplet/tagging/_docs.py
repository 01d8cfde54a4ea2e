"""Docstring parts shared by the taggers (filled in by ``Substitution``)."""

from ._base import AUTO_MIXUP, AUTO_MIXUP_BELOW

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


MIXUP_NOTE = """ The default was chosen on ``test``
    over five embedded data sets with 60 and 300 labelled clips (user guide,
    "Mixup in the taggers")."""

AUTO_MIXUP_NOTE = """ The default was chosen on ``test`` over five embedded data
    sets: with 60 labelled clips mixup lifted this tagger on log-mel and on
    fine-tuned embeddings alike; with 300 it lifted it on log-mel and lowered it
    on fine-tuned embeddings, the design card's pipeline (user guide, "Mixup in
    the taggers"). Between the two sizes nothing was measured."""


def mean_teacher_params(consistency: float, mixup) -> str:
    """The taggers' mean-teacher and mixup entries, with their defaults."""
    default = '"auto"' if mixup == "auto" else mixup
    note = AUTO_MIXUP_NOTE if mixup == "auto" else MIXUP_NOTE if mixup else ""
    return f"""
consistency : float, default={consistency}
    Weight of the mean-teacher consistency loss (Tarvainen and Valpola, 2017) on
    the unlabelled clips (rows of ``-1`` in ``y``). Positive: every training step
    also draws a batch of unlabelled clips, and the network (the student) learns
    to agree with a moving average of itself (the teacher) on them, frame and
    clip probabilities alike; the weight ramps up over the first 30 % of the
    steps, and the teacher is the network kept. ``0`` ignores unlabelled rows (a
    supervised tagger). Unlabelled clips are held in memory (pooled, as float32)
    during ``fit``.
teacher_decay : float, default=0.99
    The teacher's moving-average decay per step (it averages the student over
    about ``1 / (1 - teacher_decay)`` steps). Only used when ``consistency > 0``.
input_noise : float, default=0.0
    Standard deviation of the Gaussian noise added to the standardized input of
    the student and of the teacher (independently) when ``consistency > 0``.
mixup : float or "auto", default={default}
    Mixup (Zhang et al., 2018): when positive, each training batch is mixed with
    a shuffled copy of itself, ``lam * x + (1 - lam) * x[perm]`` with ``lam``
    drawn from Beta(``mixup``, ``mixup``), and learns the same mixture of the two
    targets; with a mean teacher, its batch of unlabelled clips is mixed the same
    way. ``0`` trains on the clips as they are; ``"auto"`` is {AUTO_MIXUP} when the
    fit has fewer than {AUTO_MIXUP_BELOW} labelled clips and 0 otherwise (``mixup_``
    holds the value used).{note}
"""
