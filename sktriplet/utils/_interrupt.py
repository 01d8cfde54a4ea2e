"""Interrupts during training: stop the job instead of keeping a half-trained model.

skorch uses ``KeyboardInterrupt`` for two things: Ctrl-C, and a callback asking
training to stop (``EarlyStopping`` raises it). Both end in skorch's ``partial_fit``,
which swallows them. A job must stop on the first and go on after the second, so
the two are told apart: while a net trains in the main thread, SIGINT raises
:class:`UserInterrupt` (a ``KeyboardInterrupt``) instead of a plain one; a plain
``KeyboardInterrupt`` raised from inside a skorch callback is a stop request.
"""

from __future__ import annotations

import signal
import threading
import warnings
from contextlib import contextmanager

#: Values of the estimators' ``on_interrupt`` parameter.
ON_INTERRUPT = ("raise", "stop")


class UserInterrupt(KeyboardInterrupt):
    """Ctrl-C or a termination signal, not a callback's request to stop training."""


class _TrainingInterrupted(Exception):
    """Carries a user's KeyboardInterrupt past skorch, which would swallow it."""


def _raise_user_interrupt(signum, frame):
    raise UserInterrupt()


@contextmanager
def sigint_as_user_interrupt():
    """In the main thread, make SIGINT raise :class:`UserInterrupt` meanwhile.

    Only Python's default SIGINT handler is replaced (and put back afterwards): a
    handler installed by the application stays in charge. Signals are delivered
    to the main thread only, so other threads need nothing.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    previous = signal.signal(signal.SIGINT, _raise_user_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def is_stop_request(exc: KeyboardInterrupt) -> bool:
    """Whether ``exc`` is a skorch callback's request to stop (``EarlyStopping``)."""
    if isinstance(exc, UserInterrupt):
        return False
    from skorch.callbacks import Callback

    tb = exc.__traceback__
    while tb is not None:
        if isinstance(tb.tb_frame.f_locals.get("self"), Callback):
            return True
        tb = tb.tb_next
    return False


class InterruptibleNetMixin:
    """Mixin for a skorch ``NeuralNet``: Ctrl-C ends ``fit`` with a KeyboardInterrupt.

    skorch catches ``KeyboardInterrupt`` in ``partial_fit`` and returns as if
    training had finished, so a caller (a grid search, ``sktriplet reproduce``)
    would score and keep a half-trained model. With ``on_interrupt="raise"`` (the
    default) a user's interrupt propagates out of ``fit``/``partial_fit``; with
    ``"stop"`` training stops at that point and the net keeps its weights, as in
    skorch, with a warning saying at which epoch. A callback's request to stop
    (``EarlyStopping``) ends training normally either way.
    """

    on_interrupt = "raise"

    def fit_loop(self, X, y=None, **fit_params):
        try:
            with sigint_as_user_interrupt():
                return super().fit_loop(X, y, **fit_params)
        except KeyboardInterrupt as exc:
            if is_stop_request(exc):
                raise  # skorch's partial_fit ends training normally
            if self.on_interrupt == "raise":
                raise _TrainingInterrupted() from exc
            warnings.warn(
                f"Training interrupted during epoch {len(self.history)}; the model "
                "keeps the weights of that moment (on_interrupt='stop').",
                UserWarning,
                stacklevel=2,
            )
            raise

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        try:
            return super().partial_fit(X, y, classes, **fit_params)
        except _TrainingInterrupted as exc:
            raise exc.__cause__ from None


def discard_fitted_state(estimator) -> None:
    """Remove every fitted attribute (``name_``), leaving ``estimator`` unfitted."""
    for name in [k for k in vars(estimator) if k.endswith("_") and k[0] != "_"]:
        delattr(estimator, name)


def ignore_interrupts_in_worker() -> None:
    """``initializer`` of worker processes: Ctrl-C is the parent's to handle.

    A terminal sends SIGINT to the whole process group; the parent stops the job
    and shuts its workers down, so workers printing their own tracebacks would only
    bury the one line that says how to resume.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
