"""lm-evaluation-harness is an optional dependency: imported only by the commands and modules that run it."""

from __future__ import annotations

from types import ModuleType

from denselora.errors import ConfigError

__all__ = ["INSTALL_HINT", "LM_EVAL_VERSION", "require_lm_eval"]

#: The version the harness integration is written and tested against (setup.cfg's ``eval`` extra pins it).
LM_EVAL_VERSION = "0.4.13"
INSTALL_HINT = f'pip install -e ".[eval]" (or pip install "lm-eval=={LM_EVAL_VERSION}")'


def require_lm_eval() -> ModuleType:
    """The ``lm_eval`` package.

    Raises:
        ConfigError: it is not installed; the message says how to install it.
    """
    try:
        import lm_eval
    except ImportError as err:
        raise ConfigError(
            f"the lm-eval command needs lm-evaluation-harness, which cannot be imported ({err}); install it with "
            f"{INSTALL_HINT}"
        ) from None
    return lm_eval
