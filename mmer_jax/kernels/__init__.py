"""Hand-written CPU kernels for the sequential loops XLA:CPU runs slowly (see build.py, lstm_cpu.cc)."""
