"""Where the data comes from and how it is split and standardized: :class:`DataConfig`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._validation import MAX_SPLIT_SEED, check_choice, check_int, check_probability, check_real
from ..data.registry import DATASETS, LAYOUTS, SCALINGS, check_dataset_name
from .fields import check_bool, meta, put

__all__ = ["DATASETS", "SCALINGS", "DataConfig", "check_dataset_name"]


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from and how it is split and standardized.

    Examples:
        >>> DataConfig(dataset="digits").test_size
        0.2
    """

    dataset: str = field(default="mnist5k", metadata=meta(
        f"dataset: {', '.join(DATASETS)}"))
    data_dir: str | None = field(default=None, metadata=meta(
        "folder with the IDX files of mnist, fashion-mnist, kmnist"))
    download: bool = field(default=False, metadata=meta(
        "download missing IDX files (MD5-checked)"))
    test_size: float = field(default=0.2, metadata=meta(
        "test fraction of datasets without an official split"))
    val_size: float = field(default=0.1, metadata=meta(
        "fraction of the training split held out for validation (0: none); every choice "
        "made by measurement is made on it"))
    split_seed: int = field(default=0, metadata=meta("seed of the stratified splits"))
    scaling: str = field(default="auto", metadata=meta(
        "input standardization: 'global' (one mean and deviation for all features: keeps "
        "an image's or a signal's structure), 'feature' (per feature, with a floor on the "
        "deviation) or 'auto' (global for images and signals, feature otherwise)"))
    std_floor: float = field(default=0.1, metadata=meta(
        "'feature' scaling: floor on each deviation, as a fraction of the RMS deviation"))
    target: str | None = field(default=None, metadata=meta(
        "csv:PATH datasets: the column holding the class labels (default: the last column)"))
    layout: str = field(default="auto", metadata=meta(
        "what one sample is: 'auto' (what the dataset says: an npz's 'layout' key, else an "
        "image for (H, W) or (C, H, W) and features otherwise; mnist1d is a signal), "
        "'signal' ((L,) or (C, L): C channels of length L; how a 2-element npz "
        "image_shape is read as a signal), 'image' or 'features'"))

    def __post_init__(self) -> None:
        check_dataset_name(self.dataset)
        check_choice("layout", self.layout, ("auto", *LAYOUTS))
        if self.data_dir is not None:
            if not isinstance(self.data_dir, (str, Path)):
                raise ValueError(f"data_dir must be a path or None, got {self.data_dir!r}")
            put(self, "data_dir", str(self.data_dir))
        check_bool("download", self.download)
        put(self, "test_size", check_probability("test_size", self.test_size))
        put(self, "val_size", check_real("val_size", self.val_size))
        if not 0.0 <= self.val_size < 1.0:
            raise ValueError(f"val_size must lie in [0, 1), got {self.val_size!r}")
        put(self, "split_seed", check_int("split_seed", self.split_seed, minimum=0,
                                          maximum=MAX_SPLIT_SEED))
        check_choice("scaling", self.scaling, SCALINGS)
        put(self, "std_floor", check_real("std_floor", self.std_floor))
        if not 0.0 <= self.std_floor <= 1.0:
            raise ValueError(f"std_floor must lie in [0, 1], got {self.std_floor!r}")
        if self.target is not None:
            if not isinstance(self.target, str) or not self.target:
                raise ValueError(f"target must be a column name, got {self.target!r}")
            if not self.dataset.startswith("csv:"):
                raise ValueError(f"target ({self.target!r}) names the label column of a "
                                 f"csv:PATH dataset; dataset {self.dataset!r} has none (drop "
                                 "--target, or give --dataset csv:PATH)")

    def load(self) -> Any:
        """The :class:`~idmlp.data.Dataset` this config names (raw features, the split)."""
        from ..data import load_dataset

        ds = load_dataset(self.dataset, data_dir=self.data_dir, test_size=self.test_size,
                          seed=self.split_seed, download=self.download, target=self.target)
        if self.layout != "auto" and self.layout != ds.layout:
            ds = dataclasses.replace(ds, layout=self.layout)  # validated against the shape
        return ds.with_validation(self.val_size, self.split_seed) if self.val_size else ds

    def resolved_scaling(self, image_shape: tuple[int, ...], layout: str | None = None) -> str:
        """``global`` or ``feature``: what ``auto`` means for data of ``image_shape`` and
        ``layout`` (global for images and signals, whose structure one mean and deviation
        keep; feature for unordered features; without a layout, two or more dimensions
        are an image)."""
        if self.scaling != "auto":
            return self.scaling
        if layout is not None:
            return "feature" if layout == "features" else "global"
        return "global" if len(image_shape) >= 2 else "feature"

    def scaler(self, dataset: Any) -> Any:
        """The :class:`~idmlp.data.InputScaler` of this config, fitted on ``dataset``'s
        training split."""
        return dataset.fit_scaler(self.resolved_scaling(dataset.image_shape, dataset.layout),
                                  self.std_floor)
