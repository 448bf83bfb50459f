print("spruce")
