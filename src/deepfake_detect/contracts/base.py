"""What every contract shares: the base model that reads and writes its JSON file naming the file and
field at fault, its error, and the model families more than one contract names."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from deepfake_detect.errors import DeepfakeError
from deepfake_detect.files import write_text_atomic

# how a model folder's artifact loads: a Keras model, a scikit-learn pipeline, or an ensemble of model folders
ModelFamily = Literal["keras", "sklearn", "ensemble"]


class ContractError(DeepfakeError, ValueError):
    """A contract file that is unreadable or lacks / mistypes a field (the message names both)."""


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    @classmethod
    def read(cls, path: str | Path):
        """Parse and validate a JSON file of this contract; :class:`ContractError` names the file."""
        path = Path(path)
        try:
            return cls.model_validate_json(path.read_text())
        except (OSError, ValidationError) as exc:
            raise ContractError(f"{path}: not a valid {cls.__name__}: {problems(exc)}") from exc

    def write(self, path: str | Path) -> Path:
        """Write as indented JSON, atomically (a unique temp file + ``os.replace``)."""
        return write_text_atomic(path, self.model_dump_json(indent=2))


def problems(exc: Exception) -> str:
    """What is wrong with a contract's data, one ``field: message`` per problem."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(x) for x in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors())
    return str(exc)
