"""Backward passes that run chunk by chunk over the frames of a batch.

The training step encodes and decodes every frame of the batch (B x L = 2500
at the paper's sizes); kept whole, the encoder's and decoder's activations
and gradients are most of its memory. Both helpers here give the same values
and gradients as the plain computation with a fraction of the temporaries.

`chunked_sum` (the decoder's image term): forward and backward of one chunk
at a time, in sequence, during the forward pass; only the gradients are kept
for the backward pass. Nothing is recomputed.
`conv_relu_stack` (the encoder): a forward pass that keeps the activations
except the first layer's, then a backward pass over one chunk at a time that
recomputes only that first, cheap layer.
Chunks run in sequence (`tf.while_loop(parallel_iterations=1)`), so one
chunk's temporaries are alive at a time.

They are a layer beside the networks, not inside them: the encoder and
decoder are plain Keras layers, and the learner applies these passes to
the training loss (`backward_passes`) where they apply; an encoder that is
not a plain Conv2D + ReLU stack keeps the plain tape, with one log line.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence, Tuple

import keras
import tensorflow as tf
from absl import logging


def _ref(variable):
  """A hashable key for a tf.Variable or a Keras 3 variable (whose tf.Variable
  is `.value`; `tf.custom_gradient` reports the tf.Variable)."""
  if isinstance(variable, tf.Variable):
    return variable.ref()
  return variable.value.ref()


class _Chunks:
  """Splits the first axis of tensors with `rows` rows into `count` slices.

  Where the row count is static (as in the compiled training step) the
  slices are equal, `count` being the largest divisor of the rows up to
  `chunks`, so every shape is static (XLA needs that). Otherwise `count` is
  min(chunks, rows) slices of near-equal, dynamic size.
  """

  def __init__(self, like: tf.Tensor, chunks: int):
    rows = like.shape[0]
    if rows is not None:
      limit = max(1, min(chunks, rows))
      self.count = max(d for d in range(1, limit + 1) if rows % d == 0)
      self.size = rows // self.count
    else:
      self.rows = tf.shape(like)[0]
      self.count = tf.minimum(chunks, self.rows)
      self.size = None

  def take(self, tensor: tf.Tensor, index) -> tf.Tensor:
    """Slice `index` of `tensor`'s first axis."""
    if self.size is None:
      start = index * self.rows // self.count
      return tensor[start:(index + 1) * self.rows // self.count]
    rest = [d if d is not None else -1 for d in tensor.shape[1:]]
    begin = tf.stack([index * self.size] + [0] * len(rest))
    return tf.slice(tensor, begin, [self.size] + rest)


def chunked_sum(fn: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
                inputs: tf.Tensor, targets: tf.Tensor,
                variables: Sequence[tf.Variable], chunks: int) -> tf.Tensor:
  """sum_i fn(inputs[i], targets[i]) over `chunks` slices of the first axis.

  `fn(inputs_chunk, targets_chunk)` returns a scalar sum over its rows and
  may read `variables` (all the variables it reads). Gradients flow to
  `inputs` and `variables`, not to `targets`. `chunks` is capped at the
  number of rows; chunks=1 computes the plain sum. The gradients are computed
  during the forward pass, wanted or not: use chunks=1 where only the value
  is needed.
  """
  variables = list(variables)
  if chunks <= 1:
    return fn(inputs, targets)

  @tf.custom_gradient
  def forward(x):
    split = _Chunks(x, chunks)

    def body(index, total, input_grads, variable_grads):
      part = split.take(x, index)
      with tf.GradientTape() as tape:
        tape.watch(part)
        value = fn(part, split.take(targets, index))
      grads = tape.gradient(value, [part] + variables,
                            unconnected_gradients=tf.UnconnectedGradients.ZERO)
      variable_grads = [a + b for a, b in zip(variable_grads, grads[1:])]
      return (index + 1, total + value, input_grads.write(index, grads[0]),
              variable_grads)

    initial = (tf.constant(0), tf.constant(0.0, x.dtype),
               tf.TensorArray(x.dtype, size=split.count,
                              infer_shape=split.size is not None),
               [tf.zeros_like(v) for v in variables])
    # parallel_iterations=1: one chunk's activations alive at a time.
    _, total, input_grads, variable_grads = tf.while_loop(
        lambda index, *_: index < split.count, body, initial,
        parallel_iterations=1)
    input_grad = tf.reshape(input_grads.concat(), tf.shape(x))
    by_ref = {_ref(v): g for v, g in zip(variables, variable_grads)}

    def grad(upstream, variables=None):
      watched = [by_ref.get(_ref(v), tf.zeros_like(v)) for v in variables or []]
      return upstream * input_grad, [upstream * g for g in watched]

    return total, grad

  return forward(inputs)


def conv_relu_problem(layer) -> Optional[str]:
  """Why `conv_relu_stack` cannot compute `layer`, or None if it can: it
  computes Keras Conv2D layers with ReLU, 'valid' padding, a bias, and no
  dilation or groups."""
  if not isinstance(layer, keras.layers.Conv2D):
    return f'{layer.name} is a {type(layer).__name__}, not a Conv2D'
  config = layer.get_config()
  expected = dict(padding='valid', data_format='channels_last',
                  dilation_rate=(1, 1), groups=1, activation='relu', use_bias=True)
  for key, value in expected.items():
    if config.get(key) != value:
      return (f'conv_relu_stack needs Conv2D layers with {key}={value!r}; '
              f'{layer.name} has {config.get(key)!r}')
  return None


def _conv_relu(x: tf.Tensor, layer) -> tf.Tensor:
  """The layer's conv and ReLU in `x`'s dtype (weights cast to it)."""
  strides = (1,) + tuple(layer.strides) + (1,)
  x = tf.nn.conv2d(x, tf.cast(layer.kernel, x.dtype), strides, 'VALID')
  return tf.nn.relu(tf.nn.bias_add(x, tf.cast(layer.bias, x.dtype)))


def _first_two_by_slices(x: tf.Tensor, layers: Sequence, chunks: int) -> tf.Tensor:
  """The second layer's output, computed one slice of `x` at a time."""
  split = _Chunks(x, chunks)

  def body(index, outputs):
    part = _conv_relu(_conv_relu(split.take(x, index), layers[0]), layers[1])
    return index + 1, outputs.write(index, part)

  initial = (tf.constant(0), tf.TensorArray(
      x.dtype, size=split.count, infer_shape=split.size is not None))
  _, outputs = tf.while_loop(lambda index, _: index < split.count, body,
                             initial, parallel_iterations=1)
  return outputs.concat()


def conv_relu_stack(images: tf.Tensor, layers: Sequence, chunks: int) -> tf.Tensor:
  """Applies Conv2D(activation='relu', padding='valid') `layers` to NHWC
  `images`; the backward pass runs in `chunks` sequential slices of the batch.

  The forward pass keeps every layer's input and output (as autodiff would)
  except the first layer's output: the largest activation (32 x 31 x 31 per
  frame in the encoder) from the cheapest layer (3 input channels). The
  forward pass computes the first two layers one slice at a time, and the
  backward pass recomputes the first layer per slice: about 1% of a training
  step's FLOPs for 307 MB at the paper's sizes. The backward pass computes the ReLU, filter and input gradients one slice at a time,
  so its temporaries are a fraction of the whole batch's. No gradient flows
  to `images` (the encoder's input is data).
  """
  for layer in layers:
    problem = conv_relu_problem(layer)
    if problem:
      raise ValueError(problem + '.')
  if chunks <= 1 or len(layers) < 2:
    x = images
    for layer in layers:
      x = layer(x)
    return x

  @tf.custom_gradient
  def forward(x):
    # The first layer's output never exists whole: layers 1 and 2 run per
    # slice, and the backward pass recomputes layer 1 per slice.
    activations = [x, None, _first_two_by_slices(x, layers, chunks)]
    for layer in layers[2:]:
      activations.append(_conv_relu(activations[-1], layer))
    output = activations[-1]

    def grad(upstream, variables=None):
      split = _Chunks(upstream, chunks)

      def body(index, kernel_grads, bias_grads):
        g = split.take(upstream, index)
        kernel_grads, bias_grads = list(kernel_grads), list(bias_grads)
        local = [split.take(a, index) if a is not None else None
                 for a in activations]
        local[1] = _conv_relu(local[0], layers[0])
        for i in reversed(range(len(layers))):
          layer, inputs, outputs = layers[i], local[i], local[i + 1]
          strides = [1, *layer.strides, 1]
          g = tf.raw_ops.ReluGrad(gradients=g, features=outputs)
          # Gradients accumulate in the weights' dtype (float32 under a
          # mixed policy, whose activations are bfloat16).
          bias_grads[i] += tf.reduce_sum(tf.cast(g, bias_grads[i].dtype),
                                         [0, 1, 2])
          kernel_grads[i] += tf.cast(tf.raw_ops.Conv2DBackpropFilter(
              input=inputs, filter_sizes=tf.shape(layer.kernel), out_backprop=g,
              strides=strides, padding='VALID'), kernel_grads[i].dtype)
          if i > 0:
            g = tf.raw_ops.Conv2DBackpropInput(
                input_sizes=tf.shape(inputs),
                filter=tf.cast(layer.kernel, g.dtype),
                out_backprop=g, strides=strides, padding='VALID')
        return index + 1, kernel_grads, bias_grads

      initial = (tf.constant(0), [tf.zeros_like(l.kernel) for l in layers],
                 [tf.zeros_like(l.bias) for l in layers])
      _, kernel_grads, bias_grads = tf.while_loop(
          lambda index, *_: index < split.count, body, initial,
          parallel_iterations=1)
      by_ref = {}
      for layer, k, b in zip(layers, kernel_grads, bias_grads):
        by_ref[_ref(layer.kernel)], by_ref[_ref(layer.bias)] = k, b
      watched = [by_ref.get(_ref(v), tf.zeros_like(v)) for v in variables or []]
      return None, watched

    return output, grad

  return forward(images)


# fn(inputs, targets) -> a scalar sum over rows, and a function computing
# the same sum of fn over the rows of (inputs, targets).
RowSum = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
FrameSum = Callable[[RowSum, tf.Tensor, tf.Tensor], tf.Tensor]
Encode = Callable[[tf.Tensor], tf.Tensor]


def chunked_encoder(encoder, chunks: int, frame_shape: Tuple[int, int, int]
                    ) -> Tuple[Optional[Encode], Optional[str]]:
  """`encoder(images)` with `conv_relu_stack`'s backward pass, for frames
  of `frame_shape` under any leading dimensions: (encode, None), or
  (None, why not) where the encoder is not a plain stack of Conv2D + ReLU.

  It applies to an encoder whose `convs` (at least two) satisfy
  `conv_relu_problem`, hold all its weights, and whose output on a probe
  batch this wrapper reproduces (so an encoder whose call applies them
  otherwise is left to the plain tape).
  """
  convs = list(getattr(encoder, 'convs', None) or [])
  if len(convs) < 2:
    return None, f'{type(encoder).__name__} has no list `convs` of 2 or more layers'
  for layer in convs:
    problem = conv_relu_problem(layer)
    if problem:
      return None, problem
  own = {_ref(v) for layer in convs for v in (layer.kernel, layer.bias)}
  if {_ref(v) for v in encoder.weights} != own:
    return None, f'{type(encoder).__name__} has weights besides its convs'

  def encode(images: tf.Tensor) -> tf.Tensor:
    shape = tf.shape(images)
    leading = shape[:-3]
    x = tf.reshape(images, tf.concat([[-1], shape[-3:]], 0))
    x = conv_relu_stack(tf.cast(x, encoder.compute_dtype), convs, chunks)
    x = tf.reshape(x, tf.concat([leading, [-1]], 0))
    return tf.cast(x, tf.float32)

  probe = tf.random.stateless_uniform((2,) + tuple(frame_shape), [0, 0],
                                      -0.5, 0.5)
  expected, actual = encoder(probe), encode(probe)
  tolerance = 1e-5 if encoder.compute_dtype == 'float32' else 2e-2
  scale = float(tf.reduce_max(tf.abs(expected))) + 1e-6
  if (expected.shape != actual.shape or
      float(tf.reduce_max(tf.abs(expected - actual))) > tolerance * scale):
    return None, (f'{type(encoder).__name__} does not compute its convs in '
                  'sequence (its output differs from the stack of them)')
  return encode, None


def backward_passes(encoder, decoder, chunks: int,
                    frame_shape: Tuple[int, int, int]) -> Dict[str, Callable]:
  """The chunked backward passes that apply, as `WorldModel.loss` takes
  them: 'frame_sum' (the image term over `chunks` sequential chunks, any
  decoder) and 'encode' (`chunked_encoder`). Nothing for chunks=1; an
  encoder that does not qualify keeps the plain tape, with one log line."""
  if chunks <= 1:
    return {}

  def frame_sum(fn: RowSum, inputs: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
    return chunked_sum(fn, inputs, targets, decoder.trainable_variables, chunks)

  passes = {'frame_sum': frame_sum}
  encode, why_not = chunked_encoder(encoder, chunks, frame_shape)
  if encode is None:
    logging.info('backward_chunks=%d: the encoder keeps the plain backward '
                 'pass (%s); the decoder runs in chunks.', chunks, why_not)
  else:
    passes['encode'] = encode
  return passes
