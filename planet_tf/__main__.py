"""`python -m planet_tf` is `python -m planet_tf.train`."""

from absl import app

from planet_tf import train

if __name__ == '__main__':
  train.define_flags()
  app.run(train.main)
