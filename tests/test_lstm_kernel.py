"""The CPU FFI kernel (mmer_jax/kernels/lstm_cpu.cc) computes what the XLA scans compute.

Shapes are deliberately awkward: a batch that is not a multiple of the kernel's row blocks, a
hidden size that is not a multiple of its vectors, an empty sequence, and the backward direction's
padding-first reading order, both as time-flipped masks and as a direction the kernel reads from the
end (`reverse`, what BiLSTM uses). The kernel is also built for AVX2 and SSE and run against the
scans, since a build for this machine compiles only its own instruction set's branch.
"""

import os
import platform

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmer_jax.kernels import build
from mmer_jax.models.layers import lstm_recurrence
from mmer_jax.models.layers.rnn import StackedBiLSTM

pytestmark = pytest.mark.skipif(not build.load(), reason="no C++ compiler for the CPU kernels here")


def _inputs(steps=9, batch=5, hidden=20, seed=0, reading="flipped masks"):
  """Two directions over prefix masks. The second reads padding first, either through a
  time-flipped mask ("flipped masks", reverse None) or read from the end ("reverse")."""
  rng = np.random.default_rng(seed)
  gates_x = tuple(jnp.asarray(rng.normal(size=(steps, batch, 4 * hidden)), jnp.float32) for _ in range(2))
  U = jnp.asarray(rng.normal(size=(2, hidden, 4 * hidden)) * 0.3, jnp.float32)
  bias = jnp.asarray(rng.normal(size=(2, 4 * hidden)), jnp.float32)
  lengths = np.resize(np.array([steps, 4, 1, 0, steps - 2]), batch)
  valid = jnp.asarray(np.arange(steps)[:, None] < lengths[None])
  if reading == "reverse":
    return gates_x, U, bias, (valid, valid), (False, True), rng
  return gates_x, U, bias, (valid, jnp.flip(valid, 0)), None, rng


# (batch, hidden): row blocks of 8 and 4 with leftover rows; gate widths that leave 0, 1 or 2
# vectors after the kernel's column strips once padded (forward 4H, backward H; strips of 3
# 16-lane vectors with AVX-512, 4 vectors otherwise).
SHAPES = [(5, 20), (19, 37), (19, 74), (9, 300)]
READINGS = ["flipped masks", "reverse"]


def _atol(hidden: int) -> float:
  """float32 rounding of an H-term step matmul summed in a different order than XLA's dot."""
  return max(1e-6, 5e-8 * hidden)


@pytest.mark.parametrize("reading", READINGS)
@pytest.mark.parametrize("batch,hidden", SHAPES)
def test_kernel_forward_equals_the_scan_on_awkward_shapes(batch, hidden, reading):
  gates_x, U, bias, valid, reverse, _ = _inputs(batch=batch, hidden=hidden, reading=reading)
  kernel = jax.jit(lstm_recurrence._kernel_forward, static_argnums=4)(U, bias, gates_x, valid, reverse)
  scan = jax.jit(lstm_recurrence._xla_forward, static_argnums=4)(U, bias, gates_x, valid, reverse)
  for name, a, b in zip(["hs", "cs", "activations"], kernel, scan):
    for direction in range(2):
      np.testing.assert_allclose(a[direction], b[direction], atol=_atol(hidden), err_msg=f"{name}[{direction}]")
  hs = kernel[0][0]
  np.testing.assert_array_equal(hs[:, 3], 0.0)  # the empty sequence never leaves the zero state
  np.testing.assert_array_equal(hs[4:, 1], np.broadcast_to(hs[3, 1], hs[4:, 1].shape))  # carried
  if reverse:  # read from the end: zero through the padding, then each step's own state
    back = kernel[0][1]
    np.testing.assert_array_equal(back[4:, 1], 0.0)
    assert float(jnp.abs(back[:4, 1]).min()) > 0.0


@pytest.mark.parametrize("reading", READINGS)
@pytest.mark.parametrize("batch,hidden", SHAPES)
def test_inference_kernel_returns_the_forward_kernels_states(batch, hidden, reading):
  gates_x, U, bias, valid, reverse, _ = _inputs(batch=batch, hidden=hidden, reading=reading)
  inference = jax.jit(lstm_recurrence._kernel_inference, static_argnums=4)(U, bias, gates_x, valid, reverse)
  forward = jax.jit(lstm_recurrence._kernel_forward, static_argnums=4)(U, bias, gates_x, valid, reverse)[0]
  for a, b in zip(inference, forward):
    assert float(jnp.abs(b).max()) > 0.1
    np.testing.assert_array_equal(a, b)
  # Undifferentiated calls take the inference kernel; differentiated ones keep the residuals.
  text = jax.jit(lstm_recurrence.recurrence).lower(gates_x, U, bias, valid).as_text()
  assert "mmer_lstm_inference" in text and "mmer_lstm_forward" not in text


@pytest.mark.parametrize("reading", READINGS)
@pytest.mark.parametrize("batch,hidden", SHAPES)
def test_kernel_backward_equals_the_scan_on_awkward_shapes(batch, hidden, reading):
  gates_x, U, bias, valid, reverse, rng = _inputs(batch=batch, hidden=hidden, reading=reading)
  hs, cs, activations = jax.jit(lstm_recurrence._xla_forward, static_argnums=4)(U, bias, gates_x, valid, reverse)
  d_hs = tuple(jnp.asarray(rng.normal(size=h.shape), jnp.float32) for h in hs)
  kernel = jax.jit(lstm_recurrence._kernel_backward, static_argnums=5)(U, d_hs, valid, cs, activations, reverse)
  scan = jax.jit(lstm_recurrence._xla_backward, static_argnums=5)(U, d_hs, valid, cs, activations, reverse)
  for a, b in zip(kernel, scan):
    assert float(jnp.abs(b).max()) > 0.1  # a real gradient, not zeros on both sides
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=_atol(hidden))
  np.testing.assert_array_equal(kernel[0][:, 3], 0.0)  # no gate gradient where nothing was valid


def _stacked_loss_and_grad(monkeypatch, kernels: str):
  monkeypatch.setenv("MMER_JAX_CPU_KERNELS", kernels)
  x = jax.random.normal(jax.random.PRNGKey(0), (6, 11, 7))
  mask = jnp.asarray(np.arange(11)[None] < np.array([[11], [8], [3], [1], [11], [6]]))
  model = StackedBiLSTM(19, num_layers=2)
  params = model.init(jax.random.PRNGKey(1), x, mask)
  weights = jax.random.normal(jax.random.PRNGKey(2), (6, 11, 38))

  def loss(p):
    out, final = model.apply(p, x, mask)
    return (out * weights).sum() + (final ** 2).sum()

  fn = jax.jit(jax.value_and_grad(loss))  # a fresh jit: the switch is read when tracing
  return fn(params), fn.lower(params).as_text()


def test_the_switch_selects_the_kernel_and_both_paths_give_the_same_gradients(monkeypatch):
  (value_k, grads_k), hlo_k = _stacked_loss_and_grad(monkeypatch, "1")
  (value_s, grads_s), hlo_s = _stacked_loss_and_grad(monkeypatch, "0")
  assert "mmer_lstm_forward" in hlo_k and "mmer_lstm_backward" in hlo_k
  assert "mmer_lstm" not in hlo_s
  np.testing.assert_allclose(value_k, value_s, rtol=1e-6)
  for a, b in zip(jax.tree_util.tree_leaves(grads_k), jax.tree_util.tree_leaves(grads_s)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_only_float32_takes_the_kernel():
  assert lstm_recurrence.use_cpu_kernel(jnp.float32)
  assert not lstm_recurrence.use_cpu_kernel(jnp.float64)
  assert not lstm_recurrence.use_cpu_kernel(jnp.bfloat16)


def test_a_missing_compiler_falls_back_with_a_message(caplog):
  assert build.build_library("no-such-c++-compiler") is None
  assert "no C++ compiler 'no-such-c++-compiler'" in caplog.text


def test_a_failing_build_names_the_command_and_keeps_no_partial_library(tmp_path, monkeypatch):
  monkeypatch.setenv("MMER_JAX_KERNEL_CACHE", str(tmp_path))
  broken = tmp_path / "broken.cc"
  broken.write_text("this is not C++\n")
  monkeypatch.setattr(build, "SOURCE", broken)
  assert build.build_library() is None
  assert list(tmp_path.glob("*.so")) == []


@pytest.mark.parametrize("platform", ["cuda", "tpu"])
def test_accelerator_lowerings_keep_the_scan(platform):
  x = jnp.ones((2, 5, 3))
  model = StackedBiLSTM(4, num_layers=1)
  params = model.init(jax.random.PRNGKey(0), x)
  grad = jax.jit(jax.grad(lambda p: model.apply(p, x)[0].sum()))
  module = jax.export.export(grad, platforms=(platform,))(params).mlir_module()
  assert "mmer_lstm" not in module and "while" in module


def test_vmapped_calls_run_one_kernel_call_per_member():
  gates_x, U, bias, valid, _, _ = _inputs(batch=4)
  stacked = jax.tree_util.tree_map(lambda a: jnp.stack([a, a * 0.5]), (gates_x, U, bias))
  out = jax.vmap(lambda g, u, b: lstm_recurrence._kernel_forward(u, b, g, valid))(*stacked)
  for member in range(2):
    g, u, b = jax.tree_util.tree_map(lambda a: a[member], stacked)
    expected = lstm_recurrence._xla_forward(u, b, g, valid)
    np.testing.assert_allclose(out[0][0][member], expected[0][0], atol=1e-6)


def test_inconsistent_shapes_are_refused_not_read_out_of_bounds():
  gates_x, U, bias, valid, _, _ = _inputs()
  short_mask = (valid[0][:-1], valid[1][:-1])  # one step fewer than the gate inputs
  with pytest.raises(Exception, match="inconsistent shapes"):
    jax.block_until_ready(jax.jit(lstm_recurrence._kernel_forward)(U, bias, gates_x, short_mask))


def test_kernel_flops_are_read_from_the_lowered_program():
  gates_x, U, bias, valid, _, _ = _inputs(steps=9, batch=5, hidden=20)
  one_pass = 2.0 * 9 * 5 * 20 * 80 * 2  # (B, H) @ (H, 4H) per step, two directions
  loss = lambda g: sum(h.sum() for h in lstm_recurrence.recurrence(g, U, bias, valid))  # noqa: E731
  inference = jax.jit(lambda g: lstm_recurrence.recurrence(g, U, bias, valid)).lower(gates_x).as_text()
  assert lstm_recurrence.kernel_flops(inference) == one_pass
  gradient = jax.jit(jax.grad(loss)).lower(gates_x).as_text()
  assert lstm_recurrence.kernel_flops(gradient) == 2 * one_pass  # forward with residuals + backward
  assert lstm_recurrence.kernel_flops("stablehlo.dot_general") == 0.0


_NARROWER = ["x86-64-v3", "x86-64-v2"]  # AVX2 + FMA; SSE4.2 without FMA


@pytest.fixture(scope="module", params=_NARROWER)
def narrower_kernel(request, tmp_path_factory):
  """The kernel built for a narrower instruction set than this machine's and registered under its
  own target names: the AVX2 and SSE branches (vector width, matmul blocks, their leftover rows
  and columns), which a build for an AVX-512 machine never compiles, run here on the same inputs."""
  if platform.machine() not in ("x86_64", "AMD64"):
    pytest.skip("x86 instruction sets only")
  march = request.param
  library = tmp_path_factory.mktemp(march) / "lstm_cpu.so"
  flags = [f"-march={march}" if flag == "-march=native" else flag for flag in build.FLAGS]
  try:
    build._compile(os.environ.get("CXX", "g++"), jax.ffi.include_dir(), library, flags)
  except RuntimeError as error:
    message = str(error).replace("\u2018", "'").replace("\u2019", "'")
    if "for '-march=' switch" in message or "unknown target CPU" in message:  # GCC, Clang
      pytest.skip(f"this compiler does not know -march={march} (GCC 11 or newer, Clang 12 or newer)")
    raise
  suffix = "_" + march.replace("-", "_")
  build.register(library, suffix)
  return suffix


# Leftover rows and columns after every block shape of the narrower builds, and K panels (H = 300).
@pytest.mark.parametrize("batch,hidden", [(19, 37), (9, 300)])
def test_narrower_builds_compute_what_the_scans_compute(narrower_kernel, batch, hidden):
  gates_x, U, bias, valid, reverse, rng = _inputs(batch=batch, hidden=hidden, reading="reverse")
  forward = lstm_recurrence._kernel_forward(U, bias, gates_x, valid, reverse, target_suffix=narrower_kernel)
  expected = lstm_recurrence._xla_forward(U, bias, gates_x, valid, reverse)
  for got, want in zip(forward, expected):
    for a, b in zip(got, want):
      np.testing.assert_allclose(a, b, atol=_atol(hidden))
  hs, cs, activations = expected
  d_hs = tuple(jnp.asarray(rng.normal(size=h.shape), jnp.float32) for h in hs)
  backward = lstm_recurrence._kernel_backward(U, d_hs, valid, cs, activations, reverse,
                                              target_suffix=narrower_kernel)
  for got, want in zip(backward, lstm_recurrence._xla_backward(U, d_hs, valid, cs, activations, reverse)):
    assert float(jnp.abs(want).max()) > 0.1
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=_atol(hidden))
