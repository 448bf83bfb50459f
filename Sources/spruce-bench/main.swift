print("spruce-bench: no benchmarks yet")
