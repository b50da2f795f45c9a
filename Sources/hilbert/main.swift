print("hilbert")
