"""Spruce runtime for Python: load a .spruce artifact and run it on NumPy arrays.

A thin ctypes layer over the C API (spruce.h); nothing is compiled at install time.

    import numpy as np, spruce
    model = spruce.Model("model.spruce")
    print(model.inputs, model.outputs, model.metadata["pruning"])
    scores = model.run(np.zeros((1, 3, 96, 96), np.float32))

The library is found, in order: the SPRUCE_LIBRARY environment variable, the copy installed
with this package (``pip install ./python`` after ``make release``), then ``libspruce.so``
through the system's library path (``make install``).
"""
import ctypes
import os

import numpy as np

__all__ = ["Model", "SpruceError", "version", "format_version"]


class SpruceError(RuntimeError):
    """A failure reported by the runtime (the message of spruce_last_error)."""


def _load_library():
    candidates = []
    if os.environ.get("SPRUCE_LIBRARY"):
        candidates.append(os.environ["SPRUCE_LIBRARY"])
    here = os.path.dirname(os.path.abspath(__file__))
    candidates += [os.path.join(here, "libspruce.so"), "libspruce.so"]
    errors = []
    for path in candidates:
        try:
            return ctypes.CDLL(path)
        except OSError as error:
            errors.append(f"{path}: {error}")
    raise ImportError("spruce: cannot load the runtime library; set SPRUCE_LIBRARY or run "
                      "'pip install ./python' after 'make release' (" + "; ".join(errors) + ")")


_lib = _load_library()
_model_p = ctypes.c_void_p
_signatures = {
    "spruce_load": (_model_p, [ctypes.c_char_p, ctypes.c_int]),
    "spruce_free": (None, [_model_p]),
    "spruce_input_count": (ctypes.c_int, [_model_p]),
    "spruce_output_count": (ctypes.c_int, [_model_p]),
    "spruce_input_name": (ctypes.c_char_p, [_model_p, ctypes.c_int]),
    "spruce_output_name": (ctypes.c_char_p, [_model_p, ctypes.c_int]),
    "spruce_input_shape": (ctypes.c_int, [_model_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int64), ctypes.c_int]),
    "spruce_output_shape": (ctypes.c_int, [_model_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int64), ctypes.c_int]),
    "spruce_input_size": (ctypes.c_size_t, [_model_p, ctypes.c_int]),
    "spruce_output_size": (ctypes.c_size_t, [_model_p, ctypes.c_int]),
    "spruce_batch_dynamic": (ctypes.c_int, [_model_p]),
    "spruce_run_batch": (ctypes.c_int, [_model_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p),
                                        ctypes.POINTER(ctypes.c_void_p)]),
    "spruce_metadata_count": (ctypes.c_int, [_model_p]),
    "spruce_metadata_key": (ctypes.c_char_p, [_model_p, ctypes.c_int]),
    "spruce_metadata_value": (ctypes.c_char_p, [_model_p, ctypes.c_int]),
    "spruce_preprocess": (ctypes.c_int, [_model_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p,
                                         ctypes.c_size_t]),
    "spruce_version": (ctypes.c_char_p, []),
    "spruce_format_version": (ctypes.c_int, [ctypes.POINTER(ctypes.c_int)]),
    "spruce_last_error": (ctypes.c_char_p, []),
}
for _name, (_restype, _argtypes) in _signatures.items():
    _function = getattr(_lib, _name)
    _function.restype, _function.argtypes = _restype, _argtypes


def _error():
    return SpruceError(_lib.spruce_last_error().decode("utf-8", "replace"))


def version():
    """The runtime's version, "major.minor.patch"."""
    return _lib.spruce_version().decode()


def format_version():
    """(major, newest minor) of the artifact format the runtime reads."""
    minor = ctypes.c_int(0)
    major = _lib.spruce_format_version(ctypes.byref(minor))
    return major, minor.value


class Model:
    """A loaded artifact. Not for concurrent use from several threads: make one Model per thread."""

    def __init__(self, path, threads=1):
        self._handle = _lib.spruce_load(os.fsencode(path), int(threads))
        if not self._handle:
            raise _error()
        self.inputs = [self._value(i, _lib.spruce_input_name, _lib.spruce_input_shape)
                       for i in range(_lib.spruce_input_count(self._handle))]
        self.outputs = [self._value(i, _lib.spruce_output_name, _lib.spruce_output_shape)
                        for i in range(_lib.spruce_output_count(self._handle))]
        self.batch_dynamic = _lib.spruce_batch_dynamic(self._handle) == 1
        self.metadata = {_lib.spruce_metadata_key(self._handle, i).decode(): _lib.spruce_metadata_value(self._handle, i).decode()
                         for i in range(_lib.spruce_metadata_count(self._handle))}

    def _value(self, index, name, shape):
        rank = shape(self._handle, index, None, 0)
        dims = (ctypes.c_int64 * max(rank, 1))()
        shape(self._handle, index, dims, rank)
        return name(self._handle, index).decode(), tuple(dims[:rank])

    def preprocess(self, rgb):
        """8-bit RGB images, (height, width, 3) or (N, height, width, 3) at the model's input size,
        as the model's input: its layout and the pixel scaling the artifact records (as
        `spruce run` does for image files). Returns float32 (N, *input sample shape)."""
        images = np.ascontiguousarray(rgb, dtype=np.uint8)
        if images.ndim == 3:
            images = images[None]
        if images.ndim != 4 or images.shape[3] != 3:
            raise ValueError(f"expected (N, height, width, 3) RGB bytes, got {np.shape(rgb)}")
        shape = self.inputs[0][1] if len(self.inputs) == 1 else ()
        out = np.empty((images.shape[0],) + tuple(shape[1:]), np.float32)
        for i, image in enumerate(images):
            if _lib.spruce_preprocess(self._handle, image.ctypes.data, image.shape[0], image.shape[1],
                                      out[i].ctypes.data, out[i].size) != 0:
                raise _error()
        return out

    def run(self, *arrays):
        """Runs a batch: one array per input, shaped (N, *sample shape); returns the output array
        (or a list of them when the model has several outputs)."""
        if self._handle is None:
            raise SpruceError("the model was closed")
        if len(arrays) != len(self.inputs):
            raise ValueError(f"the model takes {len(self.inputs)} input(s), got {len(arrays)}")
        feeds = [np.ascontiguousarray(a, dtype=np.float32) for a in arrays]
        batch = None
        for (name, shape), a in zip(self.inputs, feeds):
            if a.ndim != len(shape) or tuple(a.shape[1:]) != shape[1:]:
                raise ValueError(f"input '{name}': expected shape (N, {', '.join(map(str, shape[1:]))}), got {a.shape}")
            if batch is not None and a.shape[0] != batch:
                raise ValueError("every input needs the same batch size")
            batch = a.shape[0]
        if batch < 1 or (batch > 1 and not self.batch_dynamic):
            raise ValueError(f"batch {batch}: the model runs batch 1 only" if batch > 1 else "empty batch")
        results = [np.empty((batch,) + shape[1:], np.float32) for _, shape in self.outputs]
        ins = (ctypes.c_void_p * len(feeds))(*[a.ctypes.data for a in feeds])
        outs = (ctypes.c_void_p * len(results))(*[r.ctypes.data for r in results])
        if _lib.spruce_run_batch(self._handle, batch, ins, outs) != 0:
            raise _error()
        return results[0] if len(results) == 1 else results

    def close(self):
        """Frees the runtime's memory now (otherwise when the object is collected)."""
        if self._handle:
            _lib.spruce_free(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()
